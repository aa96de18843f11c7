import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { buildSeekTable, isZstdError, type SeekFrame, splitZstdFrames } from '@trident/zstd-native';
import { CosiError } from '../errors.ts';

/** A byte range of a local file: the unit a codec compresses (a partition of a disk image). */
export interface FileRange {
  path: string;
  offset: number;
  length: number;
}

export interface ZstdCompressOptions {
  /** zstd level, 1..22. */
  level: number;
  /** log2 of the match window; COSI `compression.maxWindowLog` must be at least this (§2.6). */
  windowLog: number;
  /** Long-distance matching (zstd `--long`). */
  longDistanceMatching: boolean;
  /**
   * When set, write the zstd seekable format: independent frames of this many uncompressed bytes,
   * followed by a seek-table skippable frame, so readers can start decoding mid-image.
   */
  seekableFrameSize?: number;
  signal?: AbortSignal;
}

/** Decoding options of every codec and of the reader's `ZstdDecoder`, so a codec can be passed as `decoder`. */
export interface ZstdDecompressOptions {
  /** libzstd `ZSTD_d_windowLogMax` (metadata `compression.maxWindowLog`); 0 or absent keeps the default (27). */
  maxWindowLog?: number | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * The compression back end `buildCosi` and `extractCosi` use. The default wraps `node:zlib`; the
 * native codec (`@trident/zstd-native`: multi-threaded, seekable) implements the same interface.
 * Compression takes a file range rather than a stream so a native codec can read it in parallel.
 */
export interface ZstdCodec {
  readonly name: string;
  compress(input: FileRange, options: ZstdCompressOptions): AsyncIterable<Uint8Array>;
  /** Decodes every zstd frame in order and skips skippable frames (reference §4, §5.3). */
  decompress(input: AsyncIterable<Uint8Array>, options: ZstdDecompressOptions): AsyncIterable<Uint8Array>;
}

const READ_CHUNK = 1024 * 1024;
/** libzstd's default `ZSTD_d_windowLogMax`: what a reader accepts when the metadata sets none. */
const DEFAULT_MAX_WINDOW_LOG = 27;
const zstdCompressBuffer = promisify(zlib.zstdCompress);

function compressParams(options: ZstdCompressOptions): Record<number, number> {
  const c = zlib.constants;
  return {
    [c.ZSTD_c_compressionLevel]: options.level,
    [c.ZSTD_c_windowLog]: options.windowLog,
    [c.ZSTD_c_enableLongDistanceMatching]: options.longDistanceMatching ? 1 : 0,
    // A frame checksum lets any decoder catch corruption the SHA-384 check would report later.
    [c.ZSTD_c_checksumFlag]: 1,
    // Single-threaded: output bytes then depend only on input and parameters (determinism).
    [c.ZSTD_c_nbWorkers]: 0,
  };
}

/** Runs a source through a zlib transform and yields its output, propagating errors both ways. */
async function* through(source: AsyncIterable<Uint8Array>, transform: Transform): AsyncGenerator<Uint8Array> {
  const done = pipeline(Readable.from(source, { objectMode: false }), transform);
  done.catch(() => {}); // surfaced through the iteration below
  try {
    for await (const chunk of transform) yield chunk as Uint8Array;
    await done;
  } finally {
    if (!transform.destroyed) transform.destroy();
  }
}

function checkOptions(options: ZstdCompressOptions): void {
  const bad = (what: string) => new CosiError('COSI_BUILD_INPUT', `zstd ${what}`);
  if (!Number.isInteger(options.level) || options.level < 1 || options.level > 22)
    throw bad(`level ${options.level} is outside 1..22`);
  // COSI readers (libzstd) refuse windowLogMax outside 10..31 (reference §7.14).
  if (!Number.isInteger(options.windowLog) || options.windowLog < 10 || options.windowLog > 31) {
    throw bad(`windowLog ${options.windowLog} is outside 10..31`);
  }
  const frame = options.seekableFrameSize;
  if (frame !== undefined && (!Number.isInteger(frame) || frame < 4096 || frame > 0xffffffff)) {
    throw bad(`seekable frame size ${frame} is outside 4 KiB..4 GiB`);
  }
}

async function* compressSeekable(
  input: FileRange,
  options: ZstdCompressOptions,
  frameSize: number,
): AsyncGenerator<Uint8Array> {
  const handle = await open(input.path, 'r');
  const entries: SeekFrame[] = [];
  try {
    const buffer = Buffer.allocUnsafe(frameSize);
    for (let done = 0; done < input.length; ) {
      options.signal?.throwIfAborted();
      const want = Math.min(frameSize, input.length - done);
      const { bytesRead } = await handle.read(buffer, 0, want, input.offset + done);
      if (bytesRead !== want)
        throw new CosiError(
          'COSI_BUILD_INPUT',
          `${input.path} ended early at byte ${input.offset + done + bytesRead}`,
        );
      const frame = await zstdCompressBuffer(buffer.subarray(0, want), {
        params: compressParams(options),
        pledgedSrcSize: want,
      });
      entries.push({ compressedSize: frame.length, decompressedSize: want });
      done += want;
      yield frame;
    }
  } finally {
    await handle.close();
  }
  yield buildSeekTable(entries);
}

/** The default codec: libzstd as bundled in Node 24 (`node:zlib`), single-threaded. */
export function createNodeZstdCodec(): ZstdCodec {
  return {
    name: 'node:zlib',
    compress(input, options) {
      checkOptions(options);
      if (options.seekableFrameSize !== undefined)
        return compressSeekable(input, options, options.seekableFrameSize);
      const source =
        input.length === 0
          ? Readable.from([])
          : createReadStream(input.path, {
              start: input.offset,
              end: input.offset + input.length - 1,
              highWaterMark: READ_CHUNK,
            });
      const transform = zlib.createZstdCompress({
        params: compressParams(options),
        pledgedSrcSize: input.length,
      });
      return through(source, transform);
    },
    async *decompress(input, options) {
      const params: Record<number, number> = {};
      if (options.maxWindowLog) params[zlib.constants.ZSTD_d_windowLogMax] = options.maxWindowLog;
      // zstd-native walks the frames (and checks their windows); node:zlib decodes one at a time.
      const frames = splitZstdFrames(input, options.maxWindowLog || DEFAULT_MAX_WINDOW_LOG);
      const corrupt = (cause: unknown, at: number): CosiError =>
        new CosiError('COSI_IMAGE_CORRUPT', `zstd frame at byte ${at}: ${(cause as Error).message}`, {
          offset: at,
          cause,
        });
      try {
        for await (const frame of frames) {
          options.signal?.throwIfAborted();
          try {
            yield* through(frame.data, zlib.createZstdDecompress({ params }));
          } catch (cause) {
            if (cause instanceof CosiError) throw cause;
            throw corrupt(cause, isZstdError(cause) ? (cause.position ?? frame.offset) : frame.offset);
          }
        }
      } catch (cause) {
        // A frame header the splitter refused (unknown magic, reserved bits, window too large).
        if (isZstdError(cause)) throw corrupt(cause, cause.position ?? 0);
        throw cause;
      }
    },
  };
}
