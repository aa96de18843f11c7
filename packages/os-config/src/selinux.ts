/**
 * `os.selinux.mode` in the new root's `/etc/selinux/config` (upstream
 * `crates/osmodifier/src/selinux.rs` `update_config_file` and the final-state table of
 * `subsystems/selinux.rs`): the first `SELINUX=` line is rewritten (appended when there is none).
 * An OS without that file has no SELinux: `disabled` is then already true, while `permissive` or
 * `enforcing` are refused by name (`selinux-enabled-but-not-found`). The kernel command line half
 * (`selinux=`, `enforcing=`) belongs to boot configuration.
 */
import { OsConfigError, reason } from './errors.ts';
import { readFileInRoot, writeFileInRoot } from './root-files.ts';
import { done, type StepContext, type StepOutcome, skipped } from './step.ts';

export const SELINUX_CONFIG = '/etc/selinux/config';

export async function setSelinuxMode(ctx: StepContext): Promise<StepOutcome> {
  const mode = ctx.config.os.selinux.mode;
  if (mode === undefined) return skipped('no os.selinux.mode');
  const text = await readFileInRoot(ctx.root, SELINUX_CONFIG);
  if (text === undefined) {
    if (mode === 'disabled')
      return skipped(`the new OS has no ${SELINUX_CONFIG}: SELinux is not there to disable`);
    throw new OsConfigError(
      'OS_CONFIG_SELINUX_NOT_FOUND',
      `os.selinux.mode is ${mode}, but the new OS has no SELinux (${SELINUX_CONFIG} not found); install its SELinux policy in the image or set the mode to disabled`,
    );
  }
  let found = false;
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const updated = lines.map((line) => {
    if (found || !line.trimStart().startsWith('SELINUX=')) return line;
    found = true;
    return `SELINUX=${mode}`;
  });
  const content = found ? `${updated.join('\n')}\n` : `${text}\nSELINUX=${mode}\n`;
  try {
    await writeFileInRoot(ctx.root, SELINUX_CONFIG, content, 0o644, { keepExisting: true });
  } catch (error) {
    throw new OsConfigError('OS_CONFIG_SELINUX', `cannot write ${SELINUX_CONFIG}: ${reason(error)}`, {
      cause: error,
    });
  }
  return done(`SELinux mode ${mode} in ${SELINUX_CONFIG}`);
}
