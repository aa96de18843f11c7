import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const MAIN = resolve(import.meta.dirname, '../../../apps/cli/src/main.ts');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `trident` CLI in its own Node process, as a user would. */
export function trident(
  args: string[],
  options: { input?: string; env?: Record<string, string> } = {},
): CliResult {
  const result = spawnSync(process.execPath, ['--conditions=@trident/source', MAIN, ...args], {
    encoding: 'utf8',
    timeout: 300_000,
    ...(options.input === undefined ? {} : { input: options.input }),
    env: { ...process.env, ...options.env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Same, asynchronously: for runs that must be interrupted or overlap a server. */
export function tridentAsync(args: string[]): {
  done: Promise<CliResult>;
  kill: (signal: NodeJS.Signals) => void;
  stderr: () => string;
} {
  const child = spawn(process.execPath, ['--conditions=@trident/source', MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolveDone) =>
    child.on('close', (code) => resolveDone({ code, stdout, stderr })),
  );
  return { done, kill: (signal) => child.kill(signal), stderr: () => stderr };
}
