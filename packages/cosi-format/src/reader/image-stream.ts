import { createHash } from 'node:crypto';
import { type ByteSource, streamRange } from '../byte-source.ts';
import { CosiError } from '../errors.ts';
import type { ImageFile } from '../metadata/schema.ts';
import type { TarEntry } from '../tar/tar-index.ts';
import type { NativeCodec } from '../writer/native-codec.ts';
import type { ZstdDecoder } from '../zstd.ts';

export interface DecodedImage {
  /** SHA-384 (hex) of the compressed member bytes. */
  sha384: string;
  compressedBytes: number;
  uncompressedBytes: number;
}

/**
 * Streams one image member: hashes the compressed bytes (what COSI's sha384 covers) and
 * decompresses them, handing each decoded chunk to `sink`. Stops decoding once more than
 * `limit` bytes come out, so a hostile image cannot make it run forever.
 */
export async function decodeImage(
  source: ByteSource,
  entry: TarEntry,
  options: {
    decoder: ZstdDecoder;
    maxWindowLog: number | undefined;
    limit: number;
    sink?: (chunk: Uint8Array) => void | Promise<void>;
    signal?: AbortSignal | undefined;
  },
): Promise<DecodedImage & { overLimit: boolean }> {
  const native = options.decoder as Partial<NativeCodec>;
  if (!options.sink && typeof native.verify === 'function')
    return verifyNatively(native.verify.bind(native), source, entry, options);
  const hash = createHash('sha384');
  let compressedBytes = 0;
  async function* hashed(): AsyncIterable<Uint8Array> {
    for await (const chunk of streamRange(
      source,
      entry.dataOffset,
      entry.size,
      options.signal ? { signal: options.signal } : {},
    )) {
      hash.update(chunk);
      compressedBytes += chunk.length;
      yield chunk;
    }
  }
  let uncompressedBytes = 0;
  let overLimit = false;
  for await (const chunk of options.decoder.decompress(hashed(), {
    maxWindowLog: options.maxWindowLog,
    signal: options.signal,
  })) {
    uncompressedBytes += chunk.length;
    if (uncompressedBytes > options.limit) {
      overLimit = true;
      break;
    }
    if (options.sink) await options.sink(chunk);
  }
  if (overLimit) return { sha384: '', compressedBytes, uncompressedBytes, overLimit };
  return { sha384: hash.digest('hex'), compressedBytes, uncompressedBytes, overLimit };
}

/** The same check on the native codec: hash and decode in Rust threads, output discarded. */
async function verifyNatively(
  verify: NativeCodec['verify'],
  source: ByteSource,
  entry: TarEntry,
  options: { maxWindowLog: number | undefined; limit: number; signal?: AbortSignal | undefined },
): Promise<DecodedImage & { overLimit: boolean }> {
  let compressedBytes = 0;
  async function* counted(): AsyncIterable<Uint8Array> {
    for await (const chunk of streamRange(
      source,
      entry.dataOffset,
      entry.size,
      options.signal ? { signal: options.signal } : {},
    )) {
      compressedBytes += chunk.length;
      yield chunk;
    }
  }
  try {
    const result = await verify(counted(), options.limit, {
      maxWindowLog: options.maxWindowLog,
      signal: options.signal,
    });
    return {
      sha384: result.sha384,
      compressedBytes,
      uncompressedBytes: result.uncompressedBytes,
      overLimit: false,
    };
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ZSTD_SIZE_MISMATCH')
      return { sha384: '', compressedBytes, uncompressedBytes: options.limit + 1, overLimit: true };
    if (code === 'ZSTD_ABORTED' || options.signal?.aborted) throw error;
    if (
      typeof code === 'string' &&
      code.startsWith('ZSTD_') &&
      code !== 'ZSTD_IO' &&
      code !== 'ZSTD_ADDON_UNAVAILABLE'
    ) {
      throw new CosiError('COSI_IMAGE_CORRUPT', `zstd data is corrupt: ${(error as Error).message}`, {
        cause: error,
      });
    }
    throw error;
  }
}

/** Whether a decoded image matches what the metadata says about it. */
export function describeMismatch(
  file: ImageFile,
  decoded: DecodedImage,
): { field: 'sha384' | 'uncompressedSize'; message: string } | undefined {
  if (file.sha384 !== undefined && decoded.sha384 !== file.sha384.toLowerCase()) {
    return {
      field: 'sha384',
      message: `image "${file.path}" hashes to ${decoded.sha384} but the metadata says ${file.sha384.toLowerCase()}`,
    };
  }
  if (decoded.uncompressedBytes !== file.uncompressedSize) {
    return {
      field: 'uncompressedSize',
      message: `image "${file.path}" decompresses to ${decoded.uncompressedBytes} bytes but uncompressedSize says ${file.uncompressedSize}`,
    };
  }
  return undefined;
}
