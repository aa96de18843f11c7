import { execFile } from 'node:child_process';
import { BlockWriterError, type BlockWriterErrorCode } from './errors.ts';

export interface ToolResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * Runs an external tool (util-linux, e2fsprogs) without a shell. Resolves with the exit code instead
 * of throwing on non-zero exit, because several tools (e2fsck) use exit codes as results. A missing
 * tool or a signal is a `BLOCK_TOOL_FAILED` (or `errorCode`) naming the device.
 */
export function runTool(
  command: string,
  args: readonly string[],
  device: string,
  options: { signal?: AbortSignal; errorCode?: BlockWriterErrorCode } = {},
): Promise<ToolResult> {
  const code = options.errorCode ?? 'BLOCK_TOOL_FAILED';
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        encoding: 'utf8',
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, LC_ALL: 'C' },
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ stdout, stderr, exitCode: 0 });
          return;
        }
        const exitCode = (error as { code?: unknown }).code;
        if (typeof exitCode === 'number') {
          resolve({ stdout, stderr, exitCode });
          return;
        }
        const what =
          exitCode === 'ENOENT'
            ? `'${command}' is not installed or not on PATH`
            : `'${command} ${args.join(' ')}' did not complete (${error.message})`;
        reject(
          new BlockWriterError(code, `${device}: ${what}; install it or run on a host that has it.`, {
            device,
            cause: error,
          }),
        );
      },
    );
  });
}

/** Runs a tool and throws `errorCode` with its stderr when it exits non-zero. */
export async function runToolChecked(
  command: string,
  args: readonly string[],
  device: string,
  options: { signal?: AbortSignal; errorCode?: BlockWriterErrorCode; what?: string } = {},
): Promise<ToolResult> {
  const result = await runTool(command, args, device, options);
  if (result.exitCode !== 0) {
    throw new BlockWriterError(
      options.errorCode ?? 'BLOCK_TOOL_FAILED',
      `${device}: ${options.what ?? `'${command} ${args.join(' ')}'`} failed with exit code ${result.exitCode}: ${result.stderr.trim() || result.stdout.trim()}`,
      { device },
    );
  }
  return result;
}
