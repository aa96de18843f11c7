import { spawnSync } from 'node:child_process';
import { CliError, EXIT } from './cli-error.ts';

/**
 * Whether `systemctl reboot` got the reboot going. Success is exit 0; but the shutdown it starts
 * stops this service and its processes, so systemctl itself may be ended by a signal before it
 * exits. That is the reboot under way, not a failure. A signal from spawnSync's own timeout comes
 * with an error (ETIMEDOUT) and is a failure.
 */
export function rebootStarted(result: {
  status: number | null;
  signal: NodeJS.Signals | null;
  error?: Error | undefined;
}): boolean {
  if (result.error !== undefined) return false;
  return result.status === 0 || result.signal !== null;
}

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
  if (!rebootStarted(reboot))
    throw new CliError(
      'CLI_REBOOT_FAILED',
      `systemctl reboot failed (${reboot.error?.message ?? `exit ${reboot.status}`}): reboot to ${why}`,
      EXIT.io,
    );
}
