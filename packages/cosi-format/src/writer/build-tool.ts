import { isExecError, runTool } from '@trident/exec';
import { CosiError } from '../errors.ts';

export interface BuildToolOptions {
  /** Exit codes that count as results (default `[0]`). e2fsck, for one, exits 1 after fixing. */
  okCodes?: readonly number[];
  env?: Record<string, string>;
  signal?: AbortSignal;
}

export interface BuildToolResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Whatever a tool prints on stdout is kept: builds read whole files through debugfs and mtools. */
const UNBOUNDED = Number.POSITIVE_INFINITY;

/**
 * Runs a tool a COSI build needs (e2fsprogs, mtools) through `@trident/exec`, the one tool runner.
 * Its failures become `COSI_BUILD_TOOL` errors with the runner's message (command, exit code, the
 * tool's own words), because the caller can rarely do better than show them; a cancelled run
 * rejects with the signal's reason.
 */
export async function runBuildTool(
  command: string,
  args: readonly string[],
  options: BuildToolOptions = {},
): Promise<BuildToolResult> {
  try {
    const result = await runTool(command, args, {
      okCodes: options.okCodes ?? [0],
      maxOutputBytes: UNBOUNDED,
      ...(options.env === undefined ? {} : { env: options.env }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    return { code: result.exitCode, stdout: result.stdoutBytes, stderr: result.stderr };
  } catch (error) {
    if (isExecError(error, 'EXEC_ABORTED')) throw options.signal?.reason ?? error;
    if (isExecError(error)) throw new CosiError('COSI_BUILD_TOOL', error.message, { cause: error });
    throw error;
  }
}
