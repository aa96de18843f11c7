/**
 * Trident-handled reboot: after the server has closed (so the client got Completed and the end of
 * its stream), flush filesystems and run the reboot command. Trident runs `systemctl reboot` with
 * SYSTEMD_IGNORE_CHROOT=true; the command is configurable here so tests can use a harmless one.
 */
import { spawn } from 'node:child_process';
import { DaemonError } from './errors.ts';
import type { Logger } from './logger.ts';

function run(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 4096) stderr += chunk;
    });
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stderr: stderr.trim() }));
  });
}

export async function runRebootCommand(
  command: string,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  try {
    await run('sync', [], env);
  } catch (error) {
    logger.warn('sync before reboot failed', { error: (error as Error).message });
  }
  logger.info('Requesting reboot', { command });
  let result: Awaited<ReturnType<typeof run>>;
  try {
    result = await run('/bin/sh', ['-c', command], { ...env, SYSTEMD_IGNORE_CHROOT: 'true' });
  } catch (error) {
    throw new DaemonError(
      'DAEMON_REBOOT_FAILED',
      `Cannot run the reboot command '${command}': ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (result.code !== 0)
    throw new DaemonError(
      'DAEMON_REBOOT_FAILED',
      `The reboot command '${command}' failed (${result.signal ?? `exit ${result.code}`})${result.stderr ? `: ${result.stderr}` : ''}.`,
    );
}
