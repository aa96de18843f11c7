/**
 * Every failure this package raises is a `BlockWriterError` with a stable `code`; callers match on
 * the code, never on the message. Messages name the device, say why it was refused or what failed,
 * and what to do about it.
 */
export type BlockWriterErrorCode =
  | 'BLOCK_TARGET_NOT_FOUND'
  | 'BLOCK_TARGET_NOT_SUPPORTED'
  | 'BLOCK_TARGET_EXISTS'
  | 'BLOCK_TARGET_LOCKED'
  | 'BLOCK_TARGET_IS_SOURCE'
  | 'BLOCK_TARGET_PARTITION'
  | 'BLOCK_TARGET_MOUNTED'
  | 'BLOCK_TARGET_SWAP'
  | 'BLOCK_TARGET_HELD'
  | 'BLOCK_TARGET_ROOT'
  | 'BLOCK_TARGET_IS_SOURCE'
  | 'BLOCK_TARGET_BUSY'
  | 'BLOCK_TARGET_READ_ONLY'
  | 'BLOCK_TARGET_TOO_SMALL'
  | 'BLOCK_TARGET_CLOSED'
  | 'BLOCK_SECTOR_SIZE_MISMATCH'
  | 'BLOCK_NO_SUITABLE_DISK'
  | 'BLOCK_GPT_INVALID'
  | 'BLOCK_GPT_DOES_NOT_FIT'
  | 'BLOCK_IO'
  | 'BLOCK_TOOL_FAILED'
  | 'BLOCK_PARTITION_NODE_TIMEOUT'
  | 'BLOCK_PARTITION_MISMATCH'
  | 'BLOCK_RESIZE_FAILED'
  /** A mkfs tool (or the loop device it runs on) failed. */
  | 'BLOCK_MKFS_FAILED'
  /** The step needs root (a loop device over a partition's range) and the process is not root. */
  | 'BLOCK_NEEDS_ROOT'
  /** A swap area smaller than the 10 pages a swap header describes. */
  | 'BLOCK_SWAP_TOO_SMALL';

export interface BlockWriterErrorDetails {
  /** Device or file path the error is about, e.g. `/dev/sdb` or `/var/tmp/disk.img`. */
  device?: string;
  /** Byte offset on the target, when the error is about one place. */
  offset?: number;
  cause?: unknown;
}

export class BlockWriterError extends Error {
  override readonly name = 'BlockWriterError';
  readonly code: BlockWriterErrorCode;
  readonly device: string | undefined;
  readonly offset: number | undefined;

  constructor(code: BlockWriterErrorCode, message: string, details: BlockWriterErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.device = details.device;
    this.offset = details.offset;
  }
}

export function isBlockWriterError(value: unknown, code?: BlockWriterErrorCode): value is BlockWriterError {
  return value instanceof BlockWriterError && (code === undefined || value.code === code);
}

/** Short text of a foreign error (errno code + message) for inclusion in our messages. */
export function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code === undefined ? cause.message : `${code}: ${cause.message}`;
  }
  return String(cause);
}
