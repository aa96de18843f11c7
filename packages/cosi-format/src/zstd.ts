import { Readable } from 'node:stream';
import { constants, createZstdDecompress } from 'node:zlib';
import { CosiError } from './errors.ts';

/**
 * Decoding seam. The default uses Node's built-in zstd (Node ≥ 22.15); `@trident/zstd-native`
 * provides a faster one with the same shape, which callers pass as `decoder`.
 */
export interface ZstdDecoder {
  readonly name: string;
  decompress(
    input: AsyncIterable<Uint8Array>,
    options: { maxWindowLog?: number | undefined; signal?: AbortSignal | undefined },
  ): AsyncIterable<Uint8Array>;
}

const CHUNK = 1024 * 1024;

export const nodeZlibDecoder: ZstdDecoder = {
  name: 'node:zlib',
  async *decompress(input, options) {
    // libzstd treats windowLogMax 0 as "default" (27); a metadata value is only a ceiling we pass on.
    const params: Record<number, number> = {};
    if (options.maxWindowLog !== undefined && options.maxWindowLog !== 0) {
      if (options.maxWindowLog < 10 || options.maxWindowLog > 31) {
        throw new CosiError(
          'COSI_IMAGE_CORRUPT',
          `maxWindowLog ${options.maxWindowLog} is outside zstd's range 10..31`,
        );
      }
      params[constants.ZSTD_d_windowLogMax] = options.maxWindowLog;
    }
    const decoder = createZstdDecompress({ params, chunkSize: CHUNK });
    const source = Readable.from(input, { objectMode: false });
    source.on('error', (error) => decoder.destroy(error));
    source.pipe(decoder);
    const abort = (): void => {
      source.destroy();
      decoder.destroy(new CosiError('COSI_IMAGE_CORRUPT', 'decompression aborted'));
    };
    options.signal?.addEventListener('abort', abort, { once: true });
    try {
      for await (const chunk of decoder) yield chunk as Uint8Array;
    } catch (error) {
      if (error instanceof CosiError) throw error;
      options.signal?.throwIfAborted();
      throw new CosiError('COSI_IMAGE_CORRUPT', `zstd data is corrupt: ${(error as Error).message}`, {
        cause: error,
      });
    } finally {
      options.signal?.removeEventListener('abort', abort);
      source.destroy();
      decoder.destroy();
    }
  },
};
