import type { CodecChoice } from './codec.ts';
import { ZstdError } from './errors.ts';
import type { SeekFrame, SeekTable } from './seek-table.ts';
import { writeModeOverride } from './write-mode.ts';

/** Where the image goes: a path (opened write-only here, closed at the end) or a caller-owned fd. */
export type ImageTarget = (
  | {
      path: string;
      /** Create a regular file if it does not exist (never for devices). Default false. */
      create?: boolean;
    }
  | { fd: number }
) & {
  /** Absolute byte offset of the image in the target. Default 0. */
  offset?: number;
  /** Size of the target range: nothing is ever written past `offset + length`. */
  length?: number;
};

export interface ExpectedImage {
  /** Hex SHA-384 of the compressed bytes (COSI `images[].image.sha384`), optional `sha384:` prefix. */
  sha384?: string;
  compressedSize?: number;
  uncompressedSize?: number;
}

export interface ImageWriterOptions {
  target: ImageTarget;
  expected?: ExpectedImage;
  /** Largest zstd window accepted, log2 (COSI `compression.maxWindowLog`). 0 or absent: 27. */
  maxWindowLog?: number;
  /** fsync in `finish`. Default true. */
  sync?: boolean;
  /** Skip all-zero 4 KiB blocks (holes). Only for targets known to read as zeros. Default false. */
  sparse?: boolean;
  /** Seekable-format table (see `readSeekTable`): frames decode in parallel (native codec). */
  seekTable?: SeekTable | readonly SeekFrame[];
  /** Decoder threads for seekable streams. Default: available parallelism, at most 8. */
  threads?: number;
  /** `native` (default), `node-zlib`, `simple-zstd`, or `auto`. Default from `TRIDENT_ZSTD_CODEC`. */
  codec?: CodecChoice;
  /** Compressed bytes queued before `write` waits. Default 8 MiB. */
  highWaterMark?: number;
  /** Output buffer per positioned write. Default 8 MiB. */
  bufferSize?: number;
  /**
   * Native codec: decode straight into a shared mapping of the target (zstd's stable output
   * buffer), so the zstd window lives in the target's page cache instead of the heap and no write
   * buffers are used. Needs an fd target opened read-write with `length` or
   * `expected.uncompressedSize` inside the file or device; otherwise the writer uses buffers.
   * Default false. `TRIDENT_WRITE_MODE` (write-mode.ts, a benchmarking knob) overrides it.
   */
  inPlace?: boolean;
  /**
   * Native codec, buffered decoder: write the output with `O_DIRECT` where the target allows it,
   * so the image bypasses the page cache instead of being written back and dropped behind the
   * writer. Output buffers are seated at 4 KiB alignment (or the block device's logical block
   * size, if larger); an image's unaligned head and tail go through the ordinary fd. When the
   * file system refuses `O_DIRECT` (EINVAL) the writer stays buffered: the result's `directIo`
   * is then false. Ignored when `inPlace` maps the target (a mapping is page cache by
   * definition) and by the JS codecs. Default false; `TRIDENT_WRITE_MODE` overrides it.
   */
  directIo?: boolean;
  /**
   * `write` takes the chunk: once its bytes are copied, a chunk that spans its whole ArrayBuffer
   * (as a socket read or a file read delivers it) has that buffer detached, which frees its memory
   * at once instead of at V8's next garbage collection; the caller must not read it again. Chunks
   * that are views into a larger buffer are left alone. Native codec only (the fallbacks keep
   * chunks until they are decoded). Default false.
   */
  consumeChunks?: boolean;
  /** Aborts the writer (as `abort()`) when signalled. */
  signal?: AbortSignal;
}

export interface ImageWriteResult {
  /** Lowercase hex SHA-384 of the compressed bytes. */
  sha384: string;
  compressedBytes: number;
  uncompressedBytes: number;
  /** Milliseconds from creation to the end of `finish`. */
  elapsed: number;
  /** Some of the image was written with `O_DIRECT` (`directIo`). */
  directIo: boolean;
  /** Bytes written with `O_DIRECT`; the rest went through the page cache. */
  directBytes: number;
}

export interface ImageWriter {
  readonly codec: 'native' | 'node-zlib' | 'simple-zstd';
  /** Resolves when more may be written; rejects with the error that stopped the writer. */
  write(chunk: Uint8Array): Promise<void>;
  /** Waits for every byte, checks sizes, fsyncs, checks the hash. */
  finish(): Promise<ImageWriteResult>;
  /** Stops every thread, closes what it opened; pending and later calls reject ZSTD_ABORTED. */
  abort(): Promise<void>;
}

/** Options after validation, shared by every codec. */
export interface Normalized {
  path: string | undefined;
  create: boolean;
  fd: number | undefined;
  offset: number;
  length: number | undefined;
  sha384: string | undefined;
  compressedSize: number | undefined;
  uncompressedSize: number | undefined;
  maxWindowLog: number;
  sync: boolean;
  sparse: boolean;
  seekFrames: SeekFrame[] | undefined;
  threads: number | undefined;
  highWaterMark: number;
  bufferSize: number;
  inPlace: boolean;
  directIo: boolean;
  consumeChunks: boolean;
}

function invalid(message: string): ZstdError {
  return new ZstdError('ZSTD_INVALID_OPTION', message);
}

function size(name: string, v: number | undefined, min = 0): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || v < min) throw invalid(`${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

export function normalize(o: ImageWriterOptions): Normalized {
  const t = o.target as { path?: string; fd?: number; create?: boolean; offset?: number; length?: number };
  if ((t.path === undefined) === (t.fd === undefined))
    throw invalid('target needs exactly one of path and fd');
  const wl = o.maxWindowLog ?? 0;
  if (!(wl === 0 || (Number.isInteger(wl) && wl >= 10 && wl <= 31))) {
    throw invalid(`maxWindowLog ${wl} is out of range: use 0 (libzstd default, 27) or 10..=31`);
  }
  let sha = o.expected?.sha384;
  if (sha !== undefined) {
    sha = sha.replace(/^sha384:/, '');
    if (!/^[0-9a-fA-F]{96}$/.test(sha))
      throw invalid(`expected sha384 must be 96 hex digits, got ${JSON.stringify(sha)}`);
    sha = sha.toLowerCase();
  }
  const seek =
    o.seekTable === undefined ? undefined : 'frames' in o.seekTable ? o.seekTable.frames : o.seekTable;
  return {
    path: t.path,
    create: t.create ?? false,
    fd: size('target.fd', t.fd),
    offset: size('target.offset', t.offset) ?? 0,
    length: size('target.length', t.length),
    sha384: sha,
    compressedSize: size('expected.compressedSize', o.expected?.compressedSize),
    uncompressedSize: size('expected.uncompressedSize', o.expected?.uncompressedSize),
    maxWindowLog: wl === 0 ? 27 : wl,
    sync: o.sync ?? true,
    sparse: o.sparse ?? false,
    seekFrames: seek?.map((f) => ({
      compressedSize: f.compressedSize,
      decompressedSize: f.decompressedSize,
    })),
    threads: size('threads', o.threads, 1),
    highWaterMark: size('highWaterMark', o.highWaterMark, 1) ?? 8 << 20,
    bufferSize: size('bufferSize', o.bufferSize, 4096) ?? 8 << 20,
    inPlace: o.inPlace ?? false,
    directIo: o.directIo ?? false,
    ...writeModeOverride(),
    consumeChunks: o.consumeChunks ?? false,
  };
}
