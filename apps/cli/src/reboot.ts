import { spawnSync } from 'node:child_process';
import { CliError, EXIT } from './cli-error.ts';

/**
 * Reboots as Trident's CLI does after a servicing that needs it (`systemctl reboot`). When it
 * returns, systemd is taking the machine down; a failure says what to do by hand.
 */
export function rebootHost(why: string): void {
  const reboot = spawnSync('systemctl', ['reboot'], { stdio: 'inherit', timeout: 60_000 });
  if (reboot.status !== 0)
    throw new CliError(
      'CLI_REBOOT_FAILED',
      `systemctl reboot failed (${reboot.error?.message ?? `exit ${reboot.status}`}): reboot ${why}`,
      EXIT.io,
    );
}
