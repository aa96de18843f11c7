/**
 * Every failure this package raises is a `ZstdError` with a stable `code`; callers match on the
 * code, never on the message. The native addon and the JS fallbacks raise the same codes.
 */
export type ZstdErrorCode =
  | 'ZSTD_HASH_MISMATCH'
  | 'ZSTD_SIZE_MISMATCH'
  | 'ZSTD_CORRUPT_FRAME'
  | 'ZSTD_WINDOW_TOO_LARGE'
  | 'ZSTD_IO'
  | 'ZSTD_ABORTED'
  | 'ZSTD_INVALID_OPTION'
  | 'ZSTD_SEEK_TABLE_INVALID'
  | 'ZSTD_ADDON_UNAVAILABLE'
  | 'ZSTD_CODEC_UNAVAILABLE';

export interface ZstdErrorDetails {
  /** OS error number (positive, e.g. 28 for ENOSPC) for `ZSTD_IO`. */
  errno?: number | undefined;
  /** System call or step that failed for `ZSTD_IO` (`open`, `pwrite`, `fsync`...). */
  syscall?: string | undefined;
  /** Expected and actual values of a mismatch: hex digests or byte counts. */
  expected?: string | undefined;
  actual?: string | undefined;
  /** Byte position: compressed-stream offset for decode errors, target offset for I/O errors. */
  position?: number | undefined;
  cause?: unknown;
}

export class ZstdError extends Error {
  override readonly name = 'ZstdError';
  readonly code: ZstdErrorCode;
  readonly errno: number | undefined;
  readonly syscall: string | undefined;
  readonly expected: string | undefined;
  readonly actual: string | undefined;
  readonly position: number | undefined;

  constructor(code: ZstdErrorCode, message: string, details: ZstdErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.errno = details.errno;
    this.syscall = details.syscall;
    this.expected = details.expected;
    this.actual = details.actual;
    this.position = details.position;
  }
}

export function isZstdError(value: unknown, code?: ZstdErrorCode): value is ZstdError {
  return value instanceof ZstdError && (code === undefined || value.code === code);
}

/** The shape the addon hands over (see `NativeError` in binding.d.cts). */
export interface ErrorRecord {
  code: string;
  message: string;
  errno?: number;
  syscall?: string;
  expected?: string;
  actual?: string;
  position?: number;
}

export function fromRecord(r: ErrorRecord): ZstdError {
  return new ZstdError(r.code as ZstdErrorCode, r.message, {
    errno: r.errno,
    syscall: r.syscall,
    expected: r.expected,
    actual: r.actual,
    position: r.position,
  });
}

/** Wraps a Node system error (negative `errno`, string `code`) without mutating it. */
export function ioError(err: unknown, syscall: string, what: string, position?: number): ZstdError {
  const e = err as NodeJS.ErrnoException;
  const errno = typeof e.errno === 'number' ? Math.abs(e.errno) : undefined;
  return new ZstdError('ZSTD_IO', `${syscall} failed on ${what}: ${e.code ?? ''} ${e.message}`.trim(), {
    errno,
    syscall,
    position,
    cause: err,
  });
}
