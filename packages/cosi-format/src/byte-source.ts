import { CosiError } from './errors.ts';

/**
 * The smallest random-access interface the reader needs. `@trident/remote-source` sources
 * (HTTP ranges, OCI blobs) satisfy it structurally, so the reader works on remote COSI files
 * without this package depending on any network code.
 */
export interface ByteSource {
  /** Human-readable location, used in error messages. */
  readonly url: string;
  /** Total size in bytes. */
  readonly size: number;
  /** Reads exactly `length` bytes at `offset`; rejects if fewer are available. */
  read(offset: number, length: number, options?: { signal?: AbortSignal }): Promise<Uint8Array>;
  /**
   * Streams `length` bytes from `offset` in chunks. Optional: derived from `read` when absent.
   * A yielded chunk that spans its whole ArrayBuffer is the caller's: the source never reads or
   * yields those bytes again, so a consumer that copied them may free the buffer at once (the image
   * writer's `consumeChunks`). Views into memory a source keeps must not span a whole buffer.
   */
  stream?(offset: number, length: number, options?: { signal?: AbortSignal }): AsyncIterable<Uint8Array>;
  close?(): Promise<void>;
}

/** A source over bytes already in memory (tests, fuzzing, small files). */
export function createBufferSource(bytes: Uint8Array, url = 'memory'): ByteSource {
  return {
    url,
    size: bytes.length,
    async read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > bytes.length) {
        throw new CosiError(
          'COSI_IO',
          `${url}: read of ${length} bytes at offset ${offset} is past the end (${bytes.length} bytes)`,
          { offset },
        );
      }
      return bytes.subarray(offset, offset + length);
    },
  };
}

const STREAM_CHUNK = 4 * 1024 * 1024;

/** Streams a range of any source, using its own `stream` when it has one. */
export async function* streamRange(
  source: ByteSource,
  offset: number,
  length: number,
  options: { signal?: AbortSignal; chunkSize?: number } = {},
): AsyncIterable<Uint8Array> {
  if (source.stream) {
    yield* source.stream(offset, length, options.signal ? { signal: options.signal } : {});
    return;
  }
  const chunkSize = options.chunkSize ?? STREAM_CHUNK;
  for (let position = offset; position < offset + length; ) {
    options.signal?.throwIfAborted();
    const chunk = await source.read(position, Math.min(chunkSize, offset + length - position));
    position += chunk.length;
    yield chunk;
  }
}
