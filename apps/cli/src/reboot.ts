import { spawnSync } from 'node:child_process';
import { CliError, EXIT } from './cli-error.ts';

/**
 * Reboots the host as upstream's CLI does after a servicing that needs it: `sync`, then
 * `systemctl reboot` (with `SYSTEMD_IGNORE_CHROOT`, so it also works from a container or chroot).
 * A failure is an I/O error naming what to do; systemd ends this process on success.
 */
export function rebootHost(why: string): void {
  spawnSync('sync', [], { stdio: 'ignore', timeout: 60_000 });
  const reboot = spawnSync('systemctl', ['reboot'], {
    stdio: 'inherit',
    timeout: 60_000,
    env: { ...process.env, SYSTEMD_IGNORE_CHROOT: 'true' },
  });
  if (reboot.status !== 0)
    throw new CliError(
      'CLI_REBOOT_FAILED',
      `systemctl reboot failed (${reboot.error?.message ?? `exit ${reboot.status}`}): reboot to ${why}`,
      EXIT.io,
    );
}
