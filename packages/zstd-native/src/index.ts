/**
 * @trident/zstd-native: the image hot path (SHA-384 of the compressed bytes, zstd decode,
 * positioned writes, fsync) in Rust through napi-rs, with JS fallbacks behind the same
 * interface, plus the compressor the COSI writer uses.
 */
import { type CodecChoice, requireNative, resolveCodec } from './codec.ts';
import { ZstdError } from './errors.ts';
import { createJsWriter, nodeZlibDecoder, simpleZstdDecoder } from './js-writer.ts';
import { createNativeWriter } from './native-writer.ts';
import { type ImageWriter, type ImageWriterOptions, normalize } from './options.ts';

export {
  activeCodec,
  CODEC_ENV,
  CODECS,
  type Codec,
  type CodecChoice,
  type CodecInfo,
  codecInfo,
  isCodec,
} from './codec.ts';
export {
  type CompressInput,
  type CompressOptions,
  type Compressor,
  type CompressResult,
  type CompressTarget,
  compressFile,
  createCompressor,
} from './compress.ts';
export { isZstdError, ZstdError, type ZstdErrorCode, type ZstdErrorDetails } from './errors.ts';
export { splitZstdFrames, type ZstdFrame } from './framer.ts';
export type {
  ExpectedImage,
  ImageTarget,
  ImageWriteResult,
  ImageWriter,
  ImageWriterOptions,
} from './options.ts';
export {
  buildSeekTable,
  readSeekTable,
  type SeekFrame,
  type SeekTable,
  seekTableSize,
} from './seek-table.ts';

/**
 * Starts an image writer session. Throws (rejects) with a `ZstdError`: `ZSTD_ADDON_UNAVAILABLE`
 * when the addon is requested (the default) and did not load, `ZSTD_INVALID_OPTION`, `ZSTD_IO`.
 */
export async function createImageWriter(options: ImageWriterOptions): Promise<ImageWriter> {
  const n = normalize(options);
  if (options.signal?.aborted)
    throw new ZstdError('ZSTD_ABORTED', 'the image writer was aborted before it started', {
      cause: options.signal.reason,
    });
  const codec = resolveCodec(options.codec as CodecChoice | undefined);
  const writer =
    codec === 'native'
      ? createNativeWriter(requireNative(), n)
      : await createJsWriter(codec, codec === 'node-zlib' ? nodeZlibDecoder : simpleZstdDecoder, n);
  const signal = options.signal;
  if (!signal) return writer;
  const onAbort = () => void writer.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  const detach = <T>(p: Promise<T>) => p.finally(() => signal.removeEventListener('abort', onAbort));
  return {
    codec: writer.codec,
    write: (c) => writer.write(c),
    finish: () => detach(writer.finish()),
    abort: () => detach(writer.abort()),
  };
}
