/**
 * The JS fallbacks behind the same `ImageWriter` contract as the addon: SHA-384 over the
 * compressed bytes, size checks, positioned writes at `offset + n`, fsync, coded errors. Only
 * speed differs. Decoders: `node:zlib` zstd (one stream per frame, large output chunks) or
 * simple-zstd (one system `zstd -dc` process for all frames).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import type { Duplex } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { ioError, ZstdError } from './errors.ts';
import { Framer } from './framer.ts';
import { pwrite } from './fs-util.ts';
import type { ImageWriteResult, ImageWriter, Normalized } from './options.ts';

const fsync = promisify(fs.fsync);
const fstat = promisify(fs.fstat);
const ftruncate = promisify(fs.ftruncate);
const open = promisify(fs.open);
const close = promisify(fs.close);

const SPARSE_BLOCK = 4096;
const ZERO_BLOCK = new Uint8Array(SPARSE_BLOCK);

export interface JsDecoder {
  /** A new decoder per data frame (node:zlib stops after one frame) or one for the stream. */
  perFrame: boolean;
  create(n: Normalized): Promise<Duplex>;
}

export const nodeZlibDecoder: JsDecoder = {
  perFrame: true,
  async create(n) {
    // Large output chunks: with the default 16 KiB most of the time goes to per-chunk callbacks.
    return zlib.createZstdDecompress({
      chunkSize: Math.min(n.bufferSize, 4 << 20),
      params: { [zlib.constants.ZSTD_d_windowLogMax]: n.maxWindowLog },
    });
  },
};

export const simpleZstdDecoder: JsDecoder = {
  perFrame: false,
  async create(n) {
    const { decompress } = await import('simple-zstd');
    // The window was already checked on each frame header; `--memory` keeps the CLI from
    // refusing windows above its own 128 MiB default.
    return decompress({
      zstdOptions: [`--memory=${2 ** Math.max(0, n.maxWindowLog - 10)}KiB`],
      streamOptions: { highWaterMark: 1 << 20 },
    });
  },
};

function zstdError(err: unknown, position: number): ZstdError {
  if (err instanceof ZstdError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ZSTD_error_frameParameter_windowTooLarge') {
    return new ZstdError(
      'ZSTD_WINDOW_TOO_LARGE',
      `a zstd frame needs a window larger than allowed: ${e.message}`,
      { position, cause: err },
    );
  }
  return new ZstdError(
    'ZSTD_CORRUPT_FRAME',
    `zstd data is corrupt near compressed byte ${position}: ${e.message}`,
    {
      position,
      cause: err,
    },
  );
}

function isZero(b: Uint8Array): boolean {
  return b.length === SPARSE_BLOCK ? Buffer.compare(b, ZERO_BLOCK) === 0 : b.every((x) => x === 0);
}

export async function createJsWriter(
  codec: 'node-zlib' | 'simple-zstd',
  dec: JsDecoder,
  n: Normalized,
): Promise<ImageWriter> {
  const started = performance.now();
  let fd: number;
  const owned = n.path !== undefined;
  const name = n.path ?? `fd ${n.fd}`;
  try {
    fd = owned
      ? await open(n.path!, fs.constants.O_WRONLY | (n.create ? fs.constants.O_CREAT : 0), 0o644)
      : n.fd!;
  } catch (err) {
    throw ioError(err, 'open', name);
  }
  let isRegular = false;
  try {
    const st = await fstat(fd);
    isRegular = st.isFile();
    if (n.sparse && !isRegular && !st.isBlockDevice()) {
      throw new ZstdError(
        'ZSTD_INVALID_OPTION',
        `sparse writes need a regular file or block device, ${name} is neither`,
      );
    }
  } catch (err) {
    if (owned) await close(fd).catch(() => {});
    throw err instanceof ZstdError ? err : ioError(err, 'fstat', name);
  }

  const hash = createHash('sha384');
  const framer = new Framer(n.maxWindowLog);
  let failure: ZstdError | undefined;
  let closed = false;
  let compressed = 0;
  let written = 0;
  let decoder: Duplex | undefined;
  let pump: Promise<void> | undefined;

  const fail = (e: ZstdError): ZstdError => {
    failure ??= e;
    decoder?.destroy();
    return failure;
  };

  const limitCheck = (total: number): void => {
    if (n.uncompressedSize !== undefined && total > n.uncompressedSize) {
      throw new ZstdError(
        'ZSTD_SIZE_MISMATCH',
        `the image decodes to more than its declared uncompressedSize of ${n.uncompressedSize} bytes`,
        {
          expected: String(n.uncompressedSize),
          actual: `>${n.uncompressedSize}`,
        },
      );
    }
    if (n.length !== undefined && total > n.length) {
      throw new ZstdError(
        'ZSTD_SIZE_MISMATCH',
        `the image decodes to more than the ${n.length}-byte target range; nothing was written past it`,
        {
          expected: String(n.length),
          actual: `>${n.length}`,
        },
      );
    }
  };

  const writeAt = async (buf: Uint8Array, pos: number): Promise<void> => {
    let done = 0;
    while (done < buf.length) {
      try {
        done += await pwrite(fd, buf, done, buf.length - done, pos + done);
      } catch (err) {
        throw ioError(err, 'pwrite', name, pos + done);
      }
    }
  };

  const sink = async (buf: Uint8Array): Promise<void> => {
    limitCheck(written + buf.length);
    const pos = n.offset + written;
    written += buf.length;
    if (!n.sparse) return writeAt(buf, pos);
    // Blocks aligned to absolute positions, so holes line up with filesystem blocks.
    let i = 0;
    let runStart = -1;
    while (i < buf.length) {
      const end = Math.min(buf.length, i + SPARSE_BLOCK - ((pos + i) % SPARSE_BLOCK));
      const zero = isZero(buf.subarray(i, end));
      if (zero && runStart >= 0) {
        await writeAt(buf.subarray(runStart, i), pos + runStart);
        runStart = -1;
      } else if (!zero && runStart < 0) runStart = i;
      i = end;
    }
    if (runStart >= 0) await writeAt(buf.subarray(runStart), pos + runStart);
  };

  const startDecoder = async (): Promise<void> => {
    const d = await dec.create(n);
    decoder = d;
    const at = framer.position;
    pump = (async () => {
      try {
        for await (const out of d as AsyncIterable<Buffer>) await sink(out);
      } catch (err) {
        throw fail(zstdError(err, at));
      }
    })();
    // Rejections are collected where the pump is awaited; keep Node from flagging them early.
    pump.catch(() => {});
  };

  const endDecoder = async (): Promise<void> => {
    const d = decoder;
    const p = pump;
    decoder = undefined;
    pump = undefined;
    if (!d || !p) return;
    d.end();
    await p;
  };

  const feed = async (bytes: Uint8Array): Promise<void> => {
    const d = decoder;
    if (!d || bytes.length === 0) return;
    if (!d.write(bytes)) await Promise.race([once(d, 'drain'), pump]);
  };

  const check = (): void => {
    if (failure) throw failure;
    if (closed) throw new ZstdError('ZSTD_ABORTED', 'the image writer is finished or aborted');
  };

  const release = async (): Promise<void> => {
    closed = true;
    if (owned) await close(fd).catch(() => {});
  };

  return {
    codec,
    async write(chunk) {
      check();
      try {
        if (n.compressedSize !== undefined && compressed + chunk.length > n.compressedSize) {
          throw new ZstdError(
            'ZSTD_SIZE_MISMATCH',
            `received more than the declared compressedSize of ${n.compressedSize} bytes`,
            {
              expected: String(n.compressedSize),
              actual: `>=${compressed + chunk.length}`,
              position: n.compressedSize,
            },
          );
        }
        compressed += chunk.length;
        hash.update(chunk);
        for (const piece of framer.push(chunk)) {
          if (piece.start && !decoder) await startDecoder();
          await feed(piece.bytes);
          if (piece.end && dec.perFrame) await endDecoder();
        }
        if (failure) throw failure;
      } catch (err) {
        throw fail(err instanceof ZstdError ? err : zstdError(err, framer.position));
      }
    },
    async finish(): Promise<ImageWriteResult> {
      check();
      try {
        if (failure) throw failure;
        if (n.compressedSize !== undefined && compressed !== n.compressedSize) {
          throw new ZstdError(
            'ZSTD_SIZE_MISMATCH',
            `received ${compressed} compressed bytes, the declared compressedSize is ${n.compressedSize} (truncated download?)`,
            { expected: String(n.compressedSize), actual: String(compressed) },
          );
        }
        // Checked before ending the decoder, so every codec reports truncation the same way.
        if (!framer.atBoundary() || framer.frames === 0) {
          throw new ZstdError(
            'ZSTD_CORRUPT_FRAME',
            `the zstd stream ends inside a frame after ${compressed} compressed bytes (truncated input)`,
            { position: compressed },
          );
        }
        await endDecoder();
        if (failure) throw failure;
        if (n.uncompressedSize !== undefined && written !== n.uncompressedSize) {
          throw new ZstdError(
            'ZSTD_SIZE_MISMATCH',
            `the image decodes to ${written} bytes, the declared uncompressedSize is ${n.uncompressedSize}`,
            {
              expected: String(n.uncompressedSize),
              actual: String(written),
            },
          );
        }
        if (n.sparse && isRegular) {
          const st = await fstat(fd).catch((e: unknown) => Promise.reject(ioError(e, 'fstat', name)));
          if (st.size < n.offset + written)
            await ftruncate(fd, n.offset + written).catch((e: unknown) =>
              Promise.reject(ioError(e, 'ftruncate', name)),
            );
        }
        if (n.sync) await fsync(fd).catch((e: unknown) => Promise.reject(ioError(e, 'fsync', name)));
        const sha384 = hash.digest('hex');
        if (n.sha384 !== undefined && n.sha384 !== sha384) {
          throw new ZstdError(
            'ZSTD_HASH_MISMATCH',
            `SHA-384 of the compressed image is ${sha384}, expected ${n.sha384}; the data written to ${name} is not the image`,
            { expected: n.sha384, actual: sha384 },
          );
        }
        return {
          sha384,
          compressedBytes: compressed,
          uncompressedBytes: written,
          elapsed: performance.now() - started,
          // The JS codecs always write through the page cache.
          directIo: false,
          directBytes: 0,
        };
      } catch (err) {
        throw fail(err instanceof ZstdError ? err : zstdError(err, compressed));
      } finally {
        await release();
      }
    },
    async abort() {
      if (closed) return;
      fail(new ZstdError('ZSTD_ABORTED', 'the image writer was aborted'));
      await pump?.catch(() => {});
      await release();
    },
  };
}
