import { CosiError } from '../errors.ts';

/**
 * Splits a zstd stream into its frames by walking frame and block headers (RFC 8878 §3.1), so that
 * each frame can be handed to its own decoder. Node 24's zstd decoder stops after the first frame
 * and rejects skippable frames, while COSI images may hold several frames (the seekable format)
 * and Image Customizer prefixes each image with a skippable frame (reference §5.3).
 */
export const ZSTD_MAGIC = 0xfd2fb528;
export const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
export const SKIPPABLE_MAGIC_BASE = 0x184d2a50;

export interface ZstdFrame {
  skippable: boolean;
  /** Offset of the frame in the whole stream. */
  offset: number;
  /** The frame's bytes, streamed; must be consumed before the next frame is requested. */
  data: AsyncIterable<Uint8Array>;
}

export async function* splitZstdFrames(input: AsyncIterable<Uint8Array>): AsyncGenerator<ZstdFrame> {
  const source = input[Symbol.asyncIterator]();
  let buffer: Uint8Array = new Uint8Array(0);
  let position = 0; // stream offset of buffer[0]
  let ended = false;

  async function fill(n: number): Promise<boolean> {
    while (buffer.length < n && !ended) {
      const next = await source.next();
      if (next.done) {
        ended = true;
        break;
      }
      if (next.value.length === 0) continue;
      if (buffer.length === 0) buffer = next.value;
      else {
        const joined = new Uint8Array(buffer.length + next.value.length);
        joined.set(buffer, 0);
        joined.set(next.value, buffer.length);
        buffer = joined;
      }
    }
    return buffer.length >= n;
  }

  const corrupt = (message: string): CosiError =>
    new CosiError('COSI_IMAGE_CORRUPT', `zstd stream: ${message} at byte ${position}`, { offset: position });

  /** Header bytes: small, made contiguous. */
  async function header(n: number): Promise<Uint8Array> {
    if (!(await fill(n))) throw corrupt(`truncated (needed ${n} header bytes)`);
    const bytes = buffer.subarray(0, n);
    buffer = buffer.subarray(n);
    position += n;
    return bytes;
  }

  /** Passes `n` bytes through without joining chunks. */
  async function* pass(n: number): AsyncGenerator<Uint8Array> {
    let left = n;
    while (left > 0) {
      if (buffer.length === 0 && !(await fill(1))) throw corrupt(`truncated (${left} bytes missing)`);
      const slice = buffer.subarray(0, Math.min(left, buffer.length));
      buffer = buffer.subarray(slice.length);
      position += slice.length;
      left -= slice.length;
      yield slice;
    }
  }

  async function* frame(): AsyncGenerator<Uint8Array> {
    const start = await header(5);
    yield start;
    const descriptor = start[4]!;
    const fcsFlag = descriptor >> 6;
    const singleSegment = (descriptor >> 5) & 1;
    const hasChecksum = (descriptor >> 2) & 1;
    if ((descriptor >> 3) & 1) throw corrupt('reserved bit set in frame header descriptor');
    const rest = (singleSegment ? 0 : 1) + [0, 1, 2, 4][descriptor & 3]! + [singleSegment, 2, 4, 8][fcsFlag]!;
    if (rest > 0) yield await header(rest);
    for (;;) {
      const blockHeader = await header(3);
      yield blockHeader;
      const value = blockHeader[0]! | (blockHeader[1]! << 8) | (blockHeader[2]! << 16);
      const type = (value >> 1) & 3;
      if (type === 3) throw corrupt('reserved block type');
      // RLE blocks store one byte however large the block is.
      yield* pass(type === 1 ? 1 : value >>> 3);
      if (value & 1) break;
    }
    if (hasChecksum) yield await header(4);
  }

  for (;;) {
    if (!(await fill(4))) {
      if (buffer.length !== 0) throw corrupt('trailing bytes after the last frame');
      return;
    }
    const magic = new DataView(buffer.buffer, buffer.byteOffset, 4).getUint32(0, true);
    const offset = position;
    let data: AsyncIterable<Uint8Array>;
    let skippable = false;
    if (magic === ZSTD_MAGIC) data = frame();
    else if ((magic & SKIPPABLE_MAGIC_MASK) >>> 0 === SKIPPABLE_MAGIC_BASE) {
      skippable = true;
      const head = await header(8);
      const size = new DataView(head.buffer, head.byteOffset, 8).getUint32(4, true);
      data = pass(size);
    } else throw corrupt(`unknown frame magic 0x${magic.toString(16).padStart(8, '0')}`);
    let consumed = false;
    const guarded = (async function* () {
      yield* data;
      consumed = true;
    })();
    yield { skippable, offset, data: guarded };
    // A caller that stops early must not leave us mid-frame.
    if (!consumed) for await (const _ of guarded);
  }
}
