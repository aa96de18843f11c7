import { spawn } from 'node:child_process';
import { CosiError } from '../errors.ts';

export interface RunToolOptions {
  /** Exit codes that count as success (default `[0]`). e2fsck, for one, exits 1 after fixing. */
  okCodes?: readonly number[];
  env?: Record<string, string>;
  signal?: AbortSignal;
}

export interface ToolResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs an external tool (e2fsprogs, mtools) without a shell and collects its output. Failures
 * become `COSI_BUILD_TOOL` errors that name the command, the exit code and the tool's own words,
 * because the caller can rarely do better than show them.
 */
export function runTool(
  command: string,
  args: readonly string[],
  options: RunToolOptions = {},
): Promise<ToolResult> {
  const okCodes = options.okCodes ?? [0];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      // A fixed locale keeps tool messages parseable; the caller's variables pin timestamps.
      env: { ...process.env, LC_ALL: 'C', ...options.env },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (cause: NodeJS.ErrnoException) => {
      const what = cause.code === 'ENOENT' ? `${command} is not installed (or not on PATH)` : cause.message;
      reject(new CosiError('COSI_BUILD_TOOL', `cannot run ${command}: ${what}`, { cause }));
    });
    child.on('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString('utf8');
      const exit = code ?? -1;
      if (!okCodes.includes(exit)) {
        const how = signal ? `was killed by ${signal}` : `exited with code ${exit}`;
        reject(
          new CosiError(
            'COSI_BUILD_TOOL',
            `${command} ${args.join(' ')} ${how}: ${stderr.trim().slice(0, 2000)}`,
          ),
        );
        return;
      }
      resolve({ code: exit, stdout: Buffer.concat(out), stderr });
    });
  });
}
