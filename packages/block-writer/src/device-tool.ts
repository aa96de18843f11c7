import { isExecError, runTool, type ToolResult } from '@trident/exec';
import { BlockWriterError, type BlockWriterErrorCode } from './errors.ts';

export type { ToolResult };

export interface DeviceToolOptions {
  signal?: AbortSignal;
  /** The code a failure to run it carries (default `BLOCK_TOOL_FAILED`). */
  errorCode?: BlockWriterErrorCode;
}

/**
 * Runs a tool (util-linux, e2fsprogs) about `device` through `@trident/exec`, the one tool runner.
 * Resolves with the exit code instead of throwing on a non-zero exit, because several tools (e2fsck)
 * use exit codes as results. A missing tool, a signal or a cancellation is a `BLOCK_TOOL_FAILED` (or
 * `errorCode`) naming the device, with the runner's error as its cause.
 */
export async function runDeviceTool(
  command: string,
  args: readonly string[],
  device: string,
  options: DeviceToolOptions = {},
): Promise<ToolResult> {
  try {
    return await runTool(command, args, {
      okCodes: 'any',
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  } catch (error) {
    if (!isExecError(error)) throw error;
    const what =
      error.code === 'EXEC_MISSING_BINARY'
        ? `'${command}' is not installed or not on PATH`
        : `'${command} ${args.join(' ')}' did not complete (${error.message})`;
    throw new BlockWriterError(
      options.errorCode ?? 'BLOCK_TOOL_FAILED',
      `${device}: ${what}; install it or run on a host that has it.`,
      { device, cause: error },
    );
  }
}

/** Runs a tool and throws `errorCode` with its own words when it exits non-zero. */
export async function runDeviceToolChecked(
  command: string,
  args: readonly string[],
  device: string,
  options: DeviceToolOptions & { what?: string } = {},
): Promise<ToolResult> {
  const result = await runDeviceTool(command, args, device, options);
  if (result.exitCode !== 0) {
    throw new BlockWriterError(
      options.errorCode ?? 'BLOCK_TOOL_FAILED',
      `${device}: ${options.what ?? `'${command} ${args.join(' ')}'`} failed with exit code ${result.exitCode}: ${result.stderr.trim() || result.stdout.trim()}`,
      { device },
    );
  }
  return result;
}
