/**
 * Daemon-side failures (start-up, listener, options, reboot) are `DaemonError`s with a stable
 * `code`; callers match on the code, never on the text. Servicing failures are not errors here:
 * they travel to the client inside `Completed` as a `TridentError`.
 */
export type DaemonErrorCode =
  | 'DAEMON_INVALID_OPTION'
  | 'DAEMON_SOCKET_IN_USE'
  | 'DAEMON_SOCKET_PATH_OCCUPIED'
  | 'DAEMON_LISTEN_FAILED'
  | 'DAEMON_ACTIVATION_INVALID'
  | 'DAEMON_ACTIVATION_NOT_UNIX'
  | 'DAEMON_REBOOT_FAILED'
  | 'DAEMON_CLIENT_USAGE';

/** Process exit codes, the same numbers as Trident's `TridentExitCodes`. */
export const EXIT = {
  ok: 0,
  setupFailed: 1,
  failed: 2,
  rebootUnsuccessful: 3,
} as const;

export class DaemonError extends Error {
  override readonly name = 'DaemonError';
  readonly code: DaemonErrorCode;

  constructor(code: DaemonErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

export function isDaemonError(value: unknown, code?: DaemonErrorCode): value is DaemonError {
  return value instanceof DaemonError && (code === undefined || value.code === code);
}

/** `message (cause: ...)` for one log line, without stack traces. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const head = typeof code === 'string' ? `${code}: ${error.message}` : error.message;
  return error.cause === undefined ? head : `${head} (cause: ${describeError(error.cause)})`;
}
