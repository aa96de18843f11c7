import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

/** Compressible, non-trivial bytes with a zero run in the middle (like a filesystem image). */
export function image(len: number, seed: number): Buffer {
  const out = Buffer.alloc(len);
  const words = 'trident cosi image partition verity ';
  let x = (seed * 2654435761) >>> 0 || 1;
  const holeStart = Math.floor(len / 3);
  for (let i = 0; i < len; i++) {
    if (i >= holeStart && i < holeStart + 300_000) continue;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = words.charCodeAt(x % words.length) ^ ((i >> 12) & 1);
  }
  return out;
}

/** One zstd frame with a content checksum, as the zstd CLI writes. */
export function zstd(data: Uint8Array, level = 3, windowLog?: number): Buffer {
  const params: Record<number, number> = {
    [zlib.constants.ZSTD_c_compressionLevel]: level,
    [zlib.constants.ZSTD_c_checksumFlag]: 1,
  };
  if (windowLog !== undefined) params[zlib.constants.ZSTD_c_windowLog] = windowLog;
  return zlib.zstdCompressSync(data, { params });
}

/** Image Customizer's 24-byte skippable frame (COSI §5.3). */
export function icPrefix(): Buffer {
  const b = Buffer.alloc(24, 7);
  b.writeUInt32LE(0x184d2a50, 0);
  b.writeUInt32LE(16, 4);
  return b;
}

export function sha384(b: Uint8Array): string {
  return createHash('sha384').update(b).digest('hex');
}

export function tempDir(): { dir: string; [Symbol.dispose](): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zstd-native-'));
  return { dir, [Symbol.dispose]: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export function* chunks(b: Uint8Array, size: number): Generator<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, Math.min(b.length, i + size));
}

export function count(dir: string): number {
  return fs.readdirSync(dir).length;
}
