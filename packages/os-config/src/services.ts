/**
 * `os.services` (upstream `crates/osmodifier/src/services.rs`): every enable first, then every
 * disable, with the new OS's `systemctl --root /` in the chroot (systemd works offline there). A
 * unit to disable must exist: `is-enabled` has to succeed or print `disabled`. With sysexts or
 * confexts configured, `systemd-sysext` / `systemd-confext` are enabled too, so extensions merge at
 * boot (upstream `subsystems/osconfig/mod.rs`).
 */
import { OsConfigError, reason } from './errors.ts';
import { done, type StepContext, type StepOutcome, skipped } from './step.ts';

export async function configureServices(ctx: StepContext): Promise<StepOutcome> {
  const { os } = ctx.config;
  const enable = [...os.services.enable];
  if (os.sysexts.length > 0) enable.push('systemd-sysext');
  if (os.confexts.length > 0) enable.push('systemd-confext');
  const disable = os.services.disable;
  if (enable.length === 0 && disable.length === 0) return skipped('no os.services');
  for (const unit of enable) {
    try {
      await ctx.inRoot('systemctl', ['--root', '/', 'enable', unit]);
    } catch (error) {
      throw new OsConfigError('OS_CONFIG_SERVICES', `cannot enable service '${unit}': ${reason(error)}`, {
        cause: error,
      });
    }
  }
  for (const unit of disable) {
    const check = await ctx.inRoot('systemctl', ['--root', '/', 'is-enabled', unit], { okCodes: 'any' });
    if (check.exitCode !== 0 && check.stdout.trim() !== 'disabled')
      throw new OsConfigError(
        'OS_CONFIG_SERVICES',
        `cannot disable service '${unit}': the new OS does not know it ('systemctl is-enabled' said: ${(check.stderr || check.stdout).trim() || `exit code ${check.exitCode}`})`,
      );
    try {
      await ctx.inRoot('systemctl', ['--root', '/', 'disable', unit]);
    } catch (error) {
      throw new OsConfigError('OS_CONFIG_SERVICES', `cannot disable service '${unit}': ${reason(error)}`, {
        cause: error,
      });
    }
  }
  return done(
    [
      enable.length > 0 ? `enabled ${enable.join(', ')}` : '',
      disable.length > 0 ? `disabled ${disable.join(', ')}` : '',
    ]
      .filter((s) => s !== '')
      .join('; '),
  );
}
