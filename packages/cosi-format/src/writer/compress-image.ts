import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { FileRange, ZstdCodec, ZstdCompressOptions } from './codec.ts';
import type { NativeCodec } from './native-codec.ts';

/** An ImageFile (COSI 1.2 §metadata) plus where its compressed bytes wait in scratch space. */
export interface CompressedImage {
  path: string;
  compressedSize: number;
  uncompressedSize: number;
  sha384: string;
  /** Scratch file holding the compressed bytes. */
  file: string;
}

/**
 * Compresses a file range into a scratch file, hashing the compressed bytes on the way: COSI's
 * `sha384` and `compressedSize` cover exactly the tar member content (reference §1, §4).
 */
export async function compressImage(
  codec: ZstdCodec,
  input: FileRange,
  memberPath: string,
  scratchFile: string,
  options: ZstdCompressOptions,
): Promise<CompressedImage> {
  const native = codec as Partial<NativeCodec>;
  if (typeof native.compressToFile === 'function') {
    const result = await native.compressToFile(input, scratchFile, options);
    return { path: memberPath, uncompressedSize: input.length, file: scratchFile, ...result };
  }
  const hash = createHash('sha384');
  let compressedSize = 0;
  const out = await open(scratchFile, 'w');
  try {
    for await (const chunk of codec.compress(input, options)) {
      hash.update(chunk);
      for (let done = 0; done < chunk.length; ) {
        done += (await out.write(chunk, done, chunk.length - done)).bytesWritten;
      }
      compressedSize += chunk.length;
    }
  } finally {
    await out.close();
  }
  return {
    path: memberPath,
    compressedSize,
    uncompressedSize: input.length,
    sha384: hash.digest('hex'),
    file: scratchFile,
  };
}
