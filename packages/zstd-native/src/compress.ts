/**
 * Compression for the COSI writer. Native: libzstd multi-threaded (one frame) or the seekable
 * format (frames compressed in parallel + seek table). Fallback: `node:zlib` zstd with the same
 * options (also used when `simple-zstd` is chosen: the system CLI offers nothing more here).
 * Output goes to a path or fd at `offset + n`; SHA-384 and sizes of the compressed bytes are
 * returned, which is what COSI metadata records (COSI §5.3).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { NativeBinding } from './binding.ts';
import { type CodecChoice, requireNative, resolveCodec } from './codec.ts';
import { fromRecord, ioError, ZstdError } from './errors.ts';
import { pwrite } from './fs-util.ts';
import { buildSeekTable, type SeekFrame } from './seek-table.ts';

export type CompressTarget = ({ path: string; create?: boolean } | { fd: number }) & { offset?: number };

export interface CompressOptions {
  /** 1..=22. Default 9 (mkcosi and Image Customizer, COSI §5.3). */
  level?: number;
  /** log2 of the window; 0 lets libzstd pick. Default 27 (COSI `maxWindowLog` 27). */
  windowLog?: number;
  /** Long-distance matching (`zstd --long`). Default true. */
  long?: boolean;
  /** Compression threads. Default: available parallelism, at most 8. */
  threads?: number;
  /** Seekable format with frames of this many uncompressed bytes (e.g. 8 MiB). Default: one frame. */
  seekableFrameSize?: number;
  /** XXH64 content checksum per frame, as the zstd CLI writes. Default true. */
  checksum?: boolean;
  /** fsync the target at the end. Default false. */
  sync?: boolean;
  codec?: CodecChoice;
  /** `compressFile`: stops the compression (native: between blocks) with `ZSTD_ABORTED`. */
  signal?: AbortSignal;
}

export interface CompressResult {
  /** Lowercase hex SHA-384 of the compressed output. */
  sha384: string;
  compressedBytes: number;
  uncompressedBytes: number;
  /** Seekable frames, when `seekableFrameSize` was given. */
  frames?: number;
  elapsed: number;
}

export interface Compressor {
  readonly codec: 'native' | 'node-zlib';
  write(chunk: Uint8Array): Promise<void>;
  finish(): Promise<CompressResult>;
  abort(): Promise<void>;
}

interface Resolved {
  level: number;
  windowLog: number;
  long: boolean;
  threads: number | undefined;
  seekableFrameSize: number | undefined;
  checksum: boolean;
  sync: boolean;
}

function resolve(o: CompressOptions): Resolved {
  const r: Resolved = {
    level: o.level ?? 9,
    windowLog: o.windowLog ?? 27,
    long: o.long ?? true,
    threads: o.threads,
    seekableFrameSize: o.seekableFrameSize,
    checksum: o.checksum ?? true,
    sync: o.sync ?? false,
  };
  const bad = (m: string) => new ZstdError('ZSTD_INVALID_OPTION', m);
  if (!Number.isInteger(r.level) || r.level < 1 || r.level > 22)
    throw bad(`compression level ${r.level} is out of range 1..=22`);
  if (!(r.windowLog === 0 || (Number.isInteger(r.windowLog) && r.windowLog >= 10 && r.windowLog <= 31))) {
    throw bad(`windowLog ${r.windowLog} is out of range: 0 (automatic) or 10..=31`);
  }
  if (r.threads !== undefined && (!Number.isInteger(r.threads) || r.threads < 1 || r.threads > 256))
    throw bad(`threads ${r.threads} is out of range 1..=256`);
  const f = r.seekableFrameSize;
  if (f !== undefined && (!Number.isInteger(f) || f < 4096 || f > 512 << 20))
    throw bad(`seekable frame size ${f} is out of range 4 KiB..=512 MiB`);
  return r;
}

function nativeOptions(r: Resolved) {
  const o: ConstructorParameters<NativeBinding['NativeCompressor']>[2] = {
    level: r.level,
    windowLog: r.windowLog,
    long: r.long,
    checksum: r.checksum,
  };
  if (r.threads !== undefined) o.threads = r.threads;
  if (r.seekableFrameSize !== undefined) o.seekableFrameSize = r.seekableFrameSize;
  return o;
}

function nativeTarget(t: CompressTarget) {
  return 'path' in t ? { path: t.path, create: t.create ?? true } : { fd: t.fd };
}

function unwrap(r: {
  ok?: {
    sha384: string;
    compressedBytes: number;
    uncompressedBytes: number;
    elapsed: number;
    frames?: number;
  };
  error?: Parameters<typeof fromRecord>[0];
}): CompressResult {
  if (r.error) throw fromRecord(r.error);
  if (!r.ok) throw new ZstdError('ZSTD_IO', 'the addon returned neither a result nor an error');
  const out: CompressResult = {
    sha384: r.ok.sha384,
    compressedBytes: r.ok.compressedBytes,
    uncompressedBytes: r.ok.uncompressedBytes,
    elapsed: r.ok.elapsed,
  };
  if (r.ok.frames !== undefined) out.frames = r.ok.frames;
  return out;
}

/** A file, or a byte range of one (a partition inside a disk image). */
export type CompressInput = string | { path: string; offset?: number; length?: number };

/** Compresses `input` into the target. A path target ends right after the output. */
export async function compressFile(
  input: CompressInput,
  target: CompressTarget,
  options: CompressOptions = {},
): Promise<CompressResult> {
  const r = resolve(options);
  const src = typeof input === 'string' ? { path: input } : input;
  const offset = src.offset ?? 0;
  if (
    !Number.isSafeInteger(offset) ||
    offset < 0 ||
    (src.length !== undefined && (!Number.isSafeInteger(src.length) || src.length < 0))
  ) {
    throw new ZstdError(
      'ZSTD_INVALID_OPTION',
      `input range ${offset}+${src.length} of ${src.path} is not a pair of non-negative integers`,
    );
  }
  const signal = options.signal;
  if (signal?.aborted) throw new ZstdError('ZSTD_ABORTED', 'the compression was aborted before it started');
  if (resolveCodec(options.codec) === 'native') {
    const b = requireNative();
    const flag = new b.NativeAbortFlag();
    const onAbort = () => flag.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return unwrap(
        await b.compressFileNative(
          src.path,
          offset,
          src.length,
          nativeTarget(target),
          target.offset ?? 0,
          nativeOptions(r),
          r.sync,
          flag,
        ),
      );
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
  const c = await createJsCompressor(target, r);
  try {
    const stream = fs.createReadStream(src.path, {
      highWaterMark: 4 << 20,
      start: offset,
      ...(src.length !== undefined ? { end: offset + src.length - 1 } : {}),
    });
    for await (const chunk of stream) {
      if (signal?.aborted) throw new ZstdError('ZSTD_ABORTED', 'the compression was aborted');
      await c.write(chunk as Buffer);
    }
  } catch (err) {
    await c.abort();
    throw err instanceof ZstdError ? err : ioError(err, 'read', src.path);
  }
  return c.finish();
}

/** Streaming compressor: `write` resolves when more may be written. */
export async function createCompressor(
  target: CompressTarget,
  options: CompressOptions = {},
): Promise<Compressor> {
  const r = resolve(options);
  if (resolveCodec(options.codec) !== 'native') return createJsCompressor(target, r);
  const b = requireNative();
  const c = new b.NativeCompressor(nativeTarget(target), target.offset ?? 0, nativeOptions(r), r.sync);
  const e = c.openError();
  if (e) throw fromRecord(e);
  return {
    codec: 'native',
    async write(chunk) {
      const w = c.write(chunk);
      if (typeof w !== 'boolean') throw fromRecord(w);
      if (w) return;
      const d = await c.drain();
      if (d) throw fromRecord(d);
    },
    async finish() {
      return unwrap(await c.finish());
    },
    async abort() {
      await c.abort();
    },
  };
}

const zstdCompress = promisify(zlib.zstdCompress) as (b: Uint8Array, o: zlib.ZstdOptions) => Promise<Buffer>;

async function createJsCompressor(target: CompressTarget, r: Resolved): Promise<Compressor> {
  const started = performance.now();
  const owned = 'path' in target;
  const name = 'path' in target ? target.path : `fd ${target.fd}`;
  let fd: number;
  try {
    fd =
      'path' in target
        ? await promisify(fs.open)(
            target.path,
            fs.constants.O_WRONLY | ((target.create ?? true) ? fs.constants.O_CREAT : 0),
            0o644,
          )
        : target.fd;
  } catch (err) {
    throw ioError(err, 'open', name);
  }
  const C = zlib.constants;
  const params: Record<number, number> = {
    [C.ZSTD_c_compressionLevel]: r.level,
    [C.ZSTD_c_enableLongDistanceMatching]: r.long ? 1 : 0,
    [C.ZSTD_c_checksumFlag]: r.checksum ? 1 : 0,
  };
  if (r.windowLog) params[C.ZSTD_c_windowLog] = r.windowLog;
  const hash = createHash('sha384');
  const base = target.offset ?? 0;
  let out = 0;
  let uncompressed = 0;
  let done = false;
  const emit = async (b: Uint8Array) => {
    hash.update(b);
    let k = 0;
    while (k < b.length) {
      try {
        k += await pwrite(fd, b, k, b.length - k, base + out + k);
      } catch (err) {
        throw ioError(err, 'pwrite', name, base + out + k);
      }
    }
    out += b.length;
  };
  const frames: SeekFrame[] = [];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flushFrame = async (data: Buffer) => {
    const z = await zstdCompress(data, { params: { ...params, [C.ZSTD_c_enableLongDistanceMatching]: 0 } });
    await emit(z);
    frames.push({ compressedSize: z.length, decompressedSize: data.length });
  };
  const stream =
    r.seekableFrameSize === undefined ? zlib.createZstdCompress({ params, chunkSize: 1 << 20 }) : undefined;
  const pump = stream
    ? (async () => {
        for await (const b of stream as AsyncIterable<Buffer>) await emit(b);
      })()
    : Promise.resolve();
  pump.catch(() => {});
  const release = async () => {
    done = true;
    if (owned) await promisify(fs.close)(fd).catch(() => {});
  };
  return {
    codec: 'node-zlib',
    async write(chunk) {
      if (done) throw new ZstdError('ZSTD_ABORTED', 'the compressor is finished or aborted');
      uncompressed += chunk.length;
      if (stream) {
        if (!stream.write(chunk)) await Promise.race([new Promise((res) => stream.once('drain', res)), pump]);
        return;
      }
      const f = r.seekableFrameSize!;
      pending.push(Buffer.from(chunk));
      pendingBytes += chunk.length;
      while (pendingBytes >= f) {
        const all = Buffer.concat(pending);
        await flushFrame(all.subarray(0, f));
        pending = [all.subarray(f)];
        pendingBytes -= f;
      }
    },
    async finish() {
      try {
        if (stream) {
          stream.end();
          await pump;
        } else {
          if (pendingBytes > 0) await flushFrame(Buffer.concat(pending));
          await emit(buildSeekTable(frames));
        }
        if (owned) await promisify(fs.ftruncate)(fd, base + out);
        if (r.sync) await promisify(fs.fsync)(fd);
        const res: CompressResult = {
          sha384: hash.digest('hex'),
          compressedBytes: out,
          uncompressedBytes: uncompressed,
          elapsed: performance.now() - started,
        };
        if (!stream) res.frames = frames.length;
        return res;
      } catch (err) {
        throw err instanceof ZstdError ? err : ioError(err, 'compress', name);
      } finally {
        await release();
      }
    },
    async abort() {
      stream?.destroy();
      await pump.catch(() => {});
      await release();
    },
  };
}
