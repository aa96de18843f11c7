/**
 * Exit codes of the `trident` command. 0 success; 1 the input is invalid (validation failed, hash
 * mismatch); 2 the command line is wrong; 3 an I/O or environment failure (file missing, server
 * unreachable, tool missing); 4 the operation was interrupted (SIGINT/SIGTERM); 141 standard
 * output was closed by its reader (128 + SIGPIPE, what a shell reports for a C tool killed by it).
 */
export const EXIT = { ok: 0, invalid: 1, usage: 2, io: 3, interrupted: 4, pipe: 141 } as const;

/** A failure the CLI reports itself; library errors are mapped by `exitCodeFor`. */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly exitCode: number;
  readonly code: string;

  constructor(code: string, message: string, exitCode: number = EXIT.usage) {
    super(message);
    this.code = code;
    this.exitCode = exitCode;
  }
}

const INVALID_INPUT =
  /^(COSI_(METADATA|VERSION|HASH|GPT|IMAGE|TAR|MEMBER|BUILD_INPUT|EXTRACT)|HC_|REMOTE_(DIGEST|OCI_LAYERS|OCI_REFERENCE))/u;

export function exitCodeFor(error: unknown): number {
  if (error instanceof CliError) return error.exitCode;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (code === 'ABORT_ERR' || code.endsWith('_ABORTED')) return EXIT.interrupted;
    if (INVALID_INPUT.test(code)) return EXIT.invalid;
  }
  return EXIT.io;
}
