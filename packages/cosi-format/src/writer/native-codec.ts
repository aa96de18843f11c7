import { createNodeZstdCodec, type FileRange, type ZstdCodec, type ZstdCompressOptions } from './codec.ts';

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

interface ZstdNativeModule {
  codecInfo(choice?: string): {
    native: { loaded: true; zstdVersion: string } | { loaded: false; error: string };
  };
  compressFile(
    input: { path: string; offset?: number; length?: number },
    target: { path: string; create?: boolean },
    options: Record<string, unknown>,
  ): Promise<{ sha384: string; compressedBytes: number }>;
  createImageWriter(options: Record<string, unknown>): Promise<{
    write(chunk: Uint8Array): Promise<void>;
    finish(): Promise<{ sha384: string; uncompressedBytes: number }>;
    abort(): Promise<void>;
  }>;
}

let cached: Promise<NativeCodec | undefined> | undefined;

/**
 * The native codec of `@trident/zstd-native` when that optional package is installed and its addon
 * loads; undefined otherwise, so this package keeps working on its own with Node's zstd.
 * Honours TRIDENT_ZSTD_CODEC: any value other than `native`/`auto` keeps the built-in codec.
 */
export function loadNativeCodec(): Promise<NativeCodec | undefined> {
  cached ??= load();
  return cached;
}

async function load(): Promise<NativeCodec | undefined> {
  const wanted = process.env['TRIDENT_ZSTD_CODEC'];
  if (wanted !== undefined && wanted !== '' && wanted !== 'native' && wanted !== 'auto') return undefined;
  let native: ZstdNativeModule;
  try {
    // A variable specifier keeps bundlers and type-checkers from requiring the optional package.
    const specifier = '@trident/zstd-native';
    native = (await import(specifier)) as ZstdNativeModule;
  } catch {
    return undefined;
  }
  const info = native.codecInfo('native').native;
  if (!info.loaded) return undefined;
  const fallback = createNodeZstdCodec();
  return {
    name: `native (libzstd ${info.zstdVersion})`,
    compress: (input, options) => fallback.compress(input, options),
    decompress: (input, options) => fallback.decompress(input, options),
    async compressToFile(input, file, options) {
      const result = await native.compressFile(
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
        },
      );
      return { compressedSize: result.compressedBytes, sha384: result.sha384 };
    },
    async verify(input, limit, options) {
      // /dev/null takes positioned writes of any length: the writer's hash, decode and size checks
      // run in Rust, and nothing is kept.
      const writer = await native.createImageWriter({
        target: { path: '/dev/null', offset: 0, length: limit },
        ...(options.maxWindowLog === undefined ? {} : { maxWindowLog: options.maxWindowLog }),
        sync: false,
        codec: 'native',
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
