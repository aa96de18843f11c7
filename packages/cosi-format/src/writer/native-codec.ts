import { type CodecInfo, codecInfo, compressFile, createImageWriter } from '@trident/zstd-native';
import { createNodeZstdCodec, type FileRange, type ZstdCodec, type ZstdCompressOptions } from './codec.ts';
import { VERIFY_BUFFER_BYTES, VERIFY_QUEUE_BYTES } from './verify-buffers.ts';

/** What a native codec adds to `ZstdCodec`: whole-file work done off the event loop, in parallel. */
export interface NativeCodec extends ZstdCodec {
  /** Compresses a file range straight into `file` (multi-threaded); returns what the metadata records. */
  compressToFile(
    input: FileRange,
    file: string,
    options: ZstdCompressOptions,
  ): Promise<{ compressedSize: number; sha384: string }>;
  /**
   * Hashes and decodes a compressed image without keeping the output. Rejects with the addon's
   * coded errors: ZSTD_SIZE_MISMATCH past `limit` decoded bytes, ZSTD_CORRUPT_FRAME, ...
   */
  verify(
    input: AsyncIterable<Uint8Array>,
    limit: number,
    options: { maxWindowLog?: number | undefined; signal?: AbortSignal | undefined },
  ): Promise<{ sha384: string; uncompressedBytes: number }>;
}

let cached: Promise<NativeCodec | undefined> | undefined;

/**
 * The native codec of `@trident/zstd-native` when its addon loads, undefined otherwise, so this
 * package keeps working with Node's zstd where the addon was not built. zstd-native decides what is
 * asked for (its `TRIDENT_ZSTD_CODEC`): anything other than `native`/`auto` keeps the built-in codec.
 */
export function loadNativeCodec(): Promise<NativeCodec | undefined> {
  cached ??= load();
  return cached;
}

async function load(): Promise<NativeCodec | undefined> {
  let info: CodecInfo;
  try {
    info = codecInfo();
  } catch {
    return undefined; // an unknown TRIDENT_ZSTD_CODEC: the built-in codec, as before
  }
  if (info.requested !== 'native' && info.requested !== 'auto') return undefined;
  if (!info.native.loaded) return undefined;
  const zstdVersion = info.native.zstdVersion;
  const fallback = createNodeZstdCodec();
  return {
    name: `native (libzstd ${zstdVersion})`,
    compress: (input, options) => fallback.compress(input, options),
    decompress: (input, options) => fallback.decompress(input, options),
    async compressToFile(input, file, options) {
      const result = await compressFile(
        { path: input.path, offset: input.offset, length: input.length },
        { path: file, create: true },
        {
          level: options.level,
          windowLog: options.windowLog,
          long: options.longDistanceMatching,
          ...(options.seekableFrameSize === undefined
            ? {}
            : { seekableFrameSize: options.seekableFrameSize }),
          codec: 'native',
          // The compressor checks it between blocks: a multi-GB `cosi build` stops on Ctrl-C.
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        },
      );
      return { compressedSize: result.compressedBytes, sha384: result.sha384 };
    },
    async verify(input, limit, options) {
      // /dev/null takes positioned writes of any length: the writer's hash, decode and size checks
      // run in Rust, and nothing is kept.
      const writer = await createImageWriter({
        target: { path: '/dev/null', offset: 0, length: limit },
        ...(options.maxWindowLog === undefined ? {} : { maxWindowLog: options.maxWindowLog }),
        sync: false,
        codec: 'native',
        // Frugal (engine memory-budget.ts `verifierBytes` counts these): 2 MiB of queued input
        // and three 256 KiB output buffers instead of the 8 MiB defaults, and each source chunk
        // freed once copied. Only the zstd window is left on the heap.
        highWaterMark: VERIFY_QUEUE_BYTES,
        bufferSize: VERIFY_BUFFER_BYTES,
        consumeChunks: true,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      try {
        for await (const chunk of input) await writer.write(chunk);
        return await writer.finish();
      } catch (error) {
        await writer.abort().catch(() => undefined);
        throw error;
      }
    },
  };
}
