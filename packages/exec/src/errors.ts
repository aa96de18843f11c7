/**
 * Every failure of a tool run is an `ExecError` with a stable `code`. Callers wrap it in their own
 * package's error (with their step's meaning) and keep it as the cause; they match on `code`.
 */
export type ExecErrorCode =
  /** The program is not installed (on the host, or inside the root it was to run in). */
  | 'EXEC_MISSING_BINARY'
  /** It could not be started for another reason (permissions, bad root, too many processes). */
  | 'EXEC_SPAWN_FAILED'
  /** It ran and exited with a code the caller did not accept, or was killed by a signal. */
  | 'EXEC_FAILED'
  /** It ran longer than `timeoutMs` and was killed. */
  | 'EXEC_TIMEOUT'
  /** The caller's signal aborted it. */
  | 'EXEC_ABORTED';

export interface ExecErrorDetails {
  command: string;
  args: readonly string[];
  /** The root it ran in (`chroot`), when not the host's. */
  root?: string | undefined;
  exitCode?: number | undefined;
  signal?: NodeJS.Signals | undefined;
  stderr?: string | undefined;
  cause?: unknown;
}

export class ExecError extends Error {
  override readonly name = 'ExecError';
  readonly code: ExecErrorCode;
  readonly command: string;
  readonly args: readonly string[];
  readonly root: string | undefined;
  readonly exitCode: number | undefined;
  readonly signal: NodeJS.Signals | undefined;
  readonly stderr: string;

  constructor(code: ExecErrorCode, message: string, details: ExecErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.command = details.command;
    this.args = details.args;
    this.root = details.root;
    this.exitCode = details.exitCode;
    this.signal = details.signal;
    this.stderr = details.stderr ?? '';
  }
}

export function isExecError(value: unknown, code?: ExecErrorCode): value is ExecError {
  return value instanceof ExecError && (code === undefined || value.code === code);
}
