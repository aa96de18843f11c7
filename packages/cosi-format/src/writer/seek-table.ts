/**
 * The zstd seekable format's seek table (zstd contrib/seekable_format, v0.1): a skippable frame
 * (magic 0x184D2A5E) holding one entry per frame and a 9-byte footer ending in 0x8F92EAB1.
 * Checksums are not written (descriptor bit 7 clear): the COSI SHA-384 covers integrity.
 */
export const SEEK_TABLE_SKIPPABLE_MAGIC = 0x184d2a5e;
export const SEEKABLE_MAGIC = 0x8f92eab1;

export interface SeekTableEntry {
  compressedSize: number;
  decompressedSize: number;
}

export function encodeSeekTable(entries: readonly SeekTableEntry[]): Uint8Array {
  const payload = entries.length * 8 + 9;
  const out = new Uint8Array(8 + payload);
  const view = new DataView(out.buffer);
  view.setUint32(0, SEEK_TABLE_SKIPPABLE_MAGIC, true);
  view.setUint32(4, payload, true);
  entries.forEach((entry, i) => {
    view.setUint32(8 + i * 8, entry.compressedSize, true);
    view.setUint32(12 + i * 8, entry.decompressedSize, true);
  });
  const footer = 8 + entries.length * 8;
  view.setUint32(footer, entries.length, true);
  view.setUint8(footer + 4, 0);
  view.setUint32(footer + 5, SEEKABLE_MAGIC, true);
  return out;
}

/** Reads a seek table from the end of a seekable zstd stream; undefined when there is none. */
export function decodeSeekTable(tail: Uint8Array): SeekTableEntry[] | undefined {
  if (tail.length < 17) return undefined;
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  if (view.getUint32(tail.length - 4, true) !== SEEKABLE_MAGIC) return undefined;
  const count = view.getUint32(tail.length - 9, true);
  const withChecksum = (view.getUint8(tail.length - 5) & 0x80) !== 0;
  const size = withChecksum ? 12 : 8;
  const start = tail.length - 9 - count * size;
  if (start < 8 || view.getUint32(start - 8, true) !== SEEK_TABLE_SKIPPABLE_MAGIC) return undefined;
  const entries: SeekTableEntry[] = [];
  for (let i = 0; i < count; i++) {
    entries.push({
      compressedSize: view.getUint32(start + i * size, true),
      decompressedSize: view.getUint32(start + i * size + 4, true),
    });
  }
  return entries;
}
