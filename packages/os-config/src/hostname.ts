/** `os.hostname` (upstream `crates/osmodifier/src/hostname.rs`): `/etc/hostname`, no newline. */
import { OsConfigError, reason } from './errors.ts';
import { writeFileInRoot } from './root-files.ts';
import { done, type StepContext, type StepOutcome, skipped } from './step.ts';

export const HOSTNAME_PATH = '/etc/hostname';

export async function setHostname(ctx: StepContext): Promise<StepOutcome> {
  const name = ctx.config.os.hostname;
  if (name === undefined || name === '') return skipped('no os.hostname');
  try {
    await writeFileInRoot(ctx.root, HOSTNAME_PATH, name, 0o644, { keepExisting: true });
  } catch (error) {
    throw new OsConfigError('OS_CONFIG_HOSTNAME', `cannot write ${HOSTNAME_PATH}: ${reason(error)}`, {
      cause: error,
    });
  }
  return done(`hostname '${name}'`);
}
