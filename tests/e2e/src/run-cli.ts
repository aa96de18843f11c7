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

/** Same, asynchronously: for runs that must be interrupted or overlap a server or another run. */
export function tridentAsync(
  args: string[],
  options: { env?: Record<string, string>; command?: string[] } = {},
): {
  pid: number;
  done: Promise<CliResult>;
  kill: (signal: NodeJS.Signals) => void;
  stdout: () => string;
  stderr: () => string;
} {
  const [command, ...prefix] = options.command ?? [process.execPath, '--conditions=@trident/source', MAIN];
  const child = spawn(command!, [...prefix, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolveDone) =>
    child.on('close', (code) => resolveDone({ code, stdout, stderr })),
  );
  return {
    pid: child.pid ?? -1,
    done,
    kill: (signal) => child.kill(signal),
    stdout: () => stdout,
    stderr: () => stderr,
  };
}

/** Polls `condition` every 50 ms until it holds; fails after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
