/**
 * The zstd seekable format's seek table (zstd `contrib/seekable_format`): a skippable frame
 * (magic 0x184D2A5E) at the end of the stream holding one entry per frame, then a 9-byte footer
 * (frame count, descriptor, magic 0x8F92EAB1). Read the member's last bytes with a range read,
 * call `seekTableSize` on the last 9, read that many, then `readSeekTable`.
 */
import { ZstdError } from './errors.ts';

export const SEEK_TABLE_FOOTER_SIZE = 9;
const SEEKABLE_MAGIC = 0x8f92eab1;
const SEEK_TABLE_FRAME_MAGIC = 0x184d2a5e;

export interface SeekFrame {
  compressedSize: number;
  decompressedSize: number;
  checksum?: number;
}

export interface SeekTable {
  frames: SeekFrame[];
  /** Bytes of the skippable frame holding the table, header included. */
  tableSize: number;
  compressedSize: number;
  decompressedSize: number;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Size of the whole seek-table frame, from (at least) the stream's last 9 bytes. */
export function seekTableSize(tail: Uint8Array): number {
  if (tail.byteLength < SEEK_TABLE_FOOTER_SIZE) {
    throw new ZstdError(
      'ZSTD_SEEK_TABLE_INVALID',
      `need the last ${SEEK_TABLE_FOOTER_SIZE} bytes of the stream, got ${tail.byteLength}`,
    );
  }
  const v = view(tail);
  const f = tail.byteLength - SEEK_TABLE_FOOTER_SIZE;
  if (v.getUint32(f + 5, true) !== SEEKABLE_MAGIC) {
    throw new ZstdError(
      'ZSTD_SEEK_TABLE_INVALID',
      'the stream does not end with a zstd seek table (footer magic 0x8F92EAB1 missing)',
    );
  }
  const n = v.getUint32(f, true);
  const desc = v.getUint8(f + 4);
  if ((desc & 0x7c) !== 0) {
    throw new ZstdError(
      'ZSTD_SEEK_TABLE_INVALID',
      `seek table descriptor 0x${desc.toString(16)} has reserved bits set`,
    );
  }
  return 8 + n * (desc & 0x80 ? 12 : 8) + SEEK_TABLE_FOOTER_SIZE;
}

/** Parses the seek table from bytes that end where the stream ends. */
export function readSeekTable(tail: Uint8Array): SeekTable {
  const size = seekTableSize(tail);
  if (tail.byteLength < size) {
    throw new ZstdError(
      'ZSTD_SEEK_TABLE_INVALID',
      `the seek table is ${size} bytes, only the last ${tail.byteLength} were given`,
      {
        expected: String(size),
        actual: String(tail.byteLength),
      },
    );
  }
  const t = tail.subarray(tail.byteLength - size);
  const v = view(t);
  if (v.getUint32(0, true) !== SEEK_TABLE_FRAME_MAGIC || v.getUint32(4, true) !== size - 8) {
    throw new ZstdError(
      'ZSTD_SEEK_TABLE_INVALID',
      'seek table skippable-frame header does not match its footer',
    );
  }
  const n = v.getUint32(size - SEEK_TABLE_FOOTER_SIZE, true);
  const withChecksum = (v.getUint8(size - 5) & 0x80) !== 0;
  const entry = withChecksum ? 12 : 8;
  const frames: SeekFrame[] = [];
  let compressedSize = 0;
  let decompressedSize = 0;
  for (let i = 0; i < n; i++) {
    const at = 8 + i * entry;
    const frame: SeekFrame = {
      compressedSize: v.getUint32(at, true),
      decompressedSize: v.getUint32(at + 4, true),
    };
    if (withChecksum) frame.checksum = v.getUint32(at + 8, true);
    compressedSize += frame.compressedSize;
    decompressedSize += frame.decompressedSize;
    frames.push(frame);
  }
  return { frames, tableSize: size, compressedSize, decompressedSize };
}

/** Serialises a seek table frame without checksums (used by the JS compressor fallback). */
export function buildSeekTable(frames: readonly SeekFrame[]): Uint8Array {
  const size = 8 + frames.length * 8 + SEEK_TABLE_FOOTER_SIZE;
  const out = new Uint8Array(size);
  const v = view(out);
  v.setUint32(0, SEEK_TABLE_FRAME_MAGIC, true);
  v.setUint32(4, size - 8, true);
  frames.forEach((f, i) => {
    v.setUint32(8 + i * 8, f.compressedSize, true);
    v.setUint32(12 + i * 8, f.decompressedSize, true);
  });
  v.setUint32(size - 9, frames.length, true);
  v.setUint8(size - 5, 0);
  v.setUint32(size - 4, SEEKABLE_MAGIC, true);
  return out;
}
