import type { Finding } from './validation/findings.ts';

/**
 * Every failure this package raises is a `CosiError` with a stable `code`; callers match on the
 * code, never on the message. Messages say what was wrong, where (member, JSON path, byte offset)
 * and what to do.
 */
export type CosiErrorCode =
  | 'COSI_IO'
  | 'COSI_TAR_TRUNCATED'
  | 'COSI_TAR_CHECKSUM'
  | 'COSI_TAR_HEADER_INVALID'
  | 'COSI_TAR_SPARSE_UNSUPPORTED'
  | 'COSI_TAR_DUPLICATE_PATH'
  | 'COSI_TAR_UNSAFE_PATH'
  | 'COSI_TAR_EXTENSION_INVALID'
  | 'COSI_MEMBER_NOT_FOUND'
  | 'COSI_MEMBER_NOT_REGULAR'
  | 'COSI_METADATA_NOT_FOUND'
  | 'COSI_METADATA_TOO_LARGE'
  | 'COSI_METADATA_TOO_DEEP'
  | 'COSI_METADATA_NOT_UTF8'
  | 'COSI_METADATA_NOT_JSON'
  | 'COSI_METADATA_INVALID'
  | 'COSI_METADATA_HASH_MISMATCH'
  | 'COSI_VERSION_UNSUPPORTED'
  | 'COSI_HASH_FORMAT'
  | 'COSI_GPT_INVALID'
  | 'COSI_GPT_UNAVAILABLE'
  | 'COSI_IMAGE_HASH_MISMATCH'
  | 'COSI_IMAGE_SIZE_MISMATCH'
  | 'COSI_IMAGE_CORRUPT'
  | 'COSI_BUILD_INPUT'
  | 'COSI_BUILD_TOOL'
  | 'COSI_EXTRACT_UNSAFE_PATH'
  | 'COSI_EXTRACT_EXISTS'
  | 'COSI_EXTRACT_NO_SPACE'
  | 'COSI_EXTRACT_IO';

export interface CosiErrorDetails {
  /** Tar member path or image path the error is about. */
  member?: string;
  /** JSON path into metadata.json, e.g. `images[1].fsUuid`. */
  path?: string;
  /** Byte offset in the COSI file. */
  offset?: number;
  /** Validation findings behind a COSI_METADATA_INVALID error (the first ones, see omittedFindings). */
  findings?: readonly Finding[];
  /** Error findings counted but not listed: lists are capped so hostile input cannot exhaust memory. */
  omittedFindings?: number;
  cause?: unknown;
}

export class CosiError extends Error {
  override readonly name = 'CosiError';
  readonly code: CosiErrorCode;
  readonly member: string | undefined;
  readonly path: string | undefined;
  readonly offset: number | undefined;
  readonly findings: readonly Finding[];
  readonly omittedFindings: number;

  constructor(code: CosiErrorCode, message: string, details: CosiErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.member = details.member;
    this.path = details.path;
    this.offset = details.offset;
    this.findings = details.findings ?? [];
    this.omittedFindings = details.omittedFindings ?? 0;
  }
}

export function isCosiError(value: unknown, code?: CosiErrorCode): value is CosiError {
  return value instanceof CosiError && (code === undefined || value.code === code);
}
