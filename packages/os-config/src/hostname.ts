/**
 * `os.hostname` (upstream `crates/osmodifier/src/hostname.rs`): `/etc/hostname`, no newline. An A/B
 * update without one carries over the running OS's hostname (upstream `should_carry_over_hostname`),
 * unless `internalParams.disableHostnameCarryOver` is set or the running OS is Azure Container Linux.
 */
import { readFile } from 'node:fs/promises';
import { OsConfigError, reason } from './errors.ts';
import { writeFileInRoot } from './root-files.ts';
import { done, type StepContext, type StepOutcome, skipped } from './step.ts';

export const HOSTNAME_PATH = '/etc/hostname';

export async function setHostname(ctx: StepContext): Promise<StepOutcome> {
  let name = ctx.config.os.hostname;
  let carried = false;
  if ((name === undefined || name === '') && (await carriesOverHostname(ctx))) {
    try {
      name = (await readFile(HOSTNAME_PATH, 'utf8')).trim();
    } catch (error) {
      throw new OsConfigError(
        'OS_CONFIG_HOSTNAME',
        `cannot read the running OS's ${HOSTNAME_PATH}: ${reason(error)}`,
        {
          cause: error,
        },
      );
    }
    carried = true;
  }
  if (name === undefined || name === '') return skipped('no os.hostname');
  try {
    await writeFileInRoot(ctx.root, HOSTNAME_PATH, name, 0o644, { keepExisting: true });
  } catch (error) {
    throw new OsConfigError('OS_CONFIG_HOSTNAME', `cannot write ${HOSTNAME_PATH}: ${reason(error)}`, {
      cause: error,
    });
  }
  return done(carried ? `hostname '${name}' carried over from the running OS` : `hostname '${name}'`);
}

async function carriesOverHostname(ctx: StepContext): Promise<boolean> {
  if (ctx.servicingType !== 'ab-update') return false;
  if (ctx.config.internalParams['disableHostnameCarryOver'] === true) return false;
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '');
  return !/^VARIANT_ID="?azurecontainerlinux"?$/mu.test(osRelease);
}
