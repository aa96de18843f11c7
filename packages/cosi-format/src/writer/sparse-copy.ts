import { type FileHandle, open } from 'node:fs/promises';

const CHUNK = 4 * 1024 * 1024;
const BLOCK = 64 * 1024;
const ZERO = Buffer.alloc(BLOCK);

/**
 * Copies `length` bytes at `offset` of `source` into a new file, leaving holes where the source
 * has all-zero 64 KiB blocks, so a mostly empty partition costs neither disk space nor write time.
 */
export async function sparseCopy(
  source: FileHandle,
  offset: number,
  length: number,
  destination: string,
  signal?: AbortSignal,
): Promise<void> {
  const out = await open(destination, 'w');
  try {
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (let done = 0; done < length; ) {
      signal?.throwIfAborted();
      const want = Math.min(CHUNK, length - done);
      const { bytesRead } = await source.read(buffer, 0, want, offset + done);
      if (bytesRead !== want)
        throw new Error(`source ended at byte ${offset + done + bytesRead}, expected ${offset + length}`);
      await writeNonZero(out, buffer.subarray(0, want), done);
      done += want;
    }
    // Extends the file over any trailing hole.
    await out.truncate(length);
  } finally {
    await out.close();
  }
}

/** Writes the non-zero 64 KiB blocks of `data` at `position`, coalescing neighbours into one write. */
export async function writeNonZero(out: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let runStart = -1;
  for (let at = 0; at < data.length; at += BLOCK) {
    const block = data.subarray(at, Math.min(at + BLOCK, data.length));
    const zero = ZERO.subarray(0, block.length).equals(block);
    if (!zero && runStart === -1) runStart = at;
    if (zero && runStart !== -1) {
      await writeAll(out, data.subarray(runStart, at), position + runStart);
      runStart = -1;
    }
  }
  if (runStart !== -1) await writeAll(out, data.subarray(runStart), position + runStart);
}

async function writeAll(out: FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await out.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
