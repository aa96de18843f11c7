import type { NativeBinding } from './binding.ts';
import { fromRecord, ZstdError } from './errors.ts';
import type { ImageWriteResult, ImageWriter, Normalized } from './options.ts';

type NativeWriter = InstanceType<NativeBinding['NativeImageWriter']>;

/** The addon's session behind the `ImageWriter` interface: JS only moves buffers. */
export function createNativeWriter(binding: NativeBinding, n: Normalized): ImageWriter {
  const opts: ConstructorParameters<NativeBinding['NativeImageWriter']>[0] = {
    target: n.path !== undefined ? { path: n.path, create: n.create } : { fd: n.fd ?? -1 },
    offset: n.offset,
    maxWindowLog: n.maxWindowLog,
    sync: n.sync,
    sparse: n.sparse,
    highWaterMark: n.highWaterMark,
    bufferSize: n.bufferSize,
    inPlace: n.inPlace,
    directIo: n.directIo,
  };
  if (n.length !== undefined) opts.length = n.length;
  if (n.sha384 !== undefined) opts.sha384 = n.sha384;
  if (n.compressedSize !== undefined) opts.compressedSize = n.compressedSize;
  if (n.uncompressedSize !== undefined) opts.uncompressedSize = n.uncompressedSize;
  if (n.seekFrames !== undefined) opts.seekTable = n.seekFrames;
  if (n.threads !== undefined) opts.threads = n.threads;
  const w: NativeWriter = new binding.NativeImageWriter(opts);
  const openError = w.openError();
  if (openError) throw fromRecord(openError);

  let closed: ZstdError | undefined;
  const consume = n.consumeChunks;
  return {
    codec: 'native',
    async write(chunk) {
      if (closed) throw closed;
      const r = w.write(chunk); // copies the bytes into the session
      if (consume) releaseChunk(chunk);
      if (typeof r !== 'boolean') throw fromRecord(r);
      if (r) return;
      const e = await w.drain();
      if (e) throw fromRecord(e);
    },
    async finish(): Promise<ImageWriteResult> {
      if (closed) throw closed;
      closed = new ZstdError('ZSTD_ABORTED', 'the image writer is already finished');
      const r = await w.finish();
      if (r.error) throw fromRecord(r.error);
      const ok = r.ok;
      if (!ok) throw new ZstdError('ZSTD_IO', 'the addon returned neither a result nor an error');
      return {
        sha384: ok.sha384,
        compressedBytes: ok.compressedBytes,
        uncompressedBytes: ok.uncompressedBytes,
        elapsed: ok.elapsed,
        directIo: ok.directIo ?? false,
        directBytes: ok.directBytes ?? 0,
      };
    },
    async abort() {
      closed ??= new ZstdError('ZSTD_ABORTED', 'the image writer was aborted');
      await w.abort();
    },
  };
}

/**
 * Frees a chunk's memory now, when the chunk is the only view of its whole ArrayBuffer's bytes:
 * detaching (`transfer(0)`) drops the backing store at once, where a dead Buffer waits for V8's
 * next scavenge (a 32 MiB young generation holds hundreds of dead 64 KiB socket buffers).
 */
export function releaseChunk(chunk: Uint8Array): void {
  // ES2024 ArrayBuffer members (Node >= 21), beyond this package's `lib`.
  const buffer = chunk.buffer as ArrayBuffer & {
    resizable?: boolean;
    transfer?: (length: number) => ArrayBuffer;
  };
  if (
    chunk.byteOffset === 0 &&
    chunk.byteLength === buffer.byteLength &&
    buffer.byteLength > 0 &&
    buffer instanceof ArrayBuffer &&
    buffer.resizable === false &&
    typeof buffer.transfer === 'function'
  )
    buffer.transfer(0);
}
