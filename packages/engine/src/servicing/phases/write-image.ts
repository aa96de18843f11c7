import type { BlockTarget } from '@trident/block-writer';
import type { CosiReader } from '@trident/cosi-format';
import { type Codec, createImageWriter } from '@trident/zstd-native';
import { WRITER_BUFFER_BYTES, WRITER_QUEUE_BYTES } from '../../memory-budget.ts';
import type { EngineEvent, PlannedImage } from '../../types.ts';
import { ProgressTracker } from './progress.ts';

export interface WriteImageOptions {
  signal?: AbortSignal | undefined;
  codec?: Codec | undefined;
  /** The target reads as zeros (a new sparse file): zero runs may become holes. */
  sparse: boolean;
  emit: (event: EngineEvent) => void;
  /** Called with every compressed chunk's size, for the overall progress line. */
  onBytes: (bytes: number) => void;
  reclaimMemory?: (() => void) | undefined;
}

const RECLAIM_EVERY = 16 * 1024 * 1024;

/**
 * Streams one partition image from the COSI into its place on the target: the compressed bytes go
 * to the Rust image writer, which hashes them, decodes them and writes at `offset + n`, never past
 * the partition. Resolves only when the hash and both sizes matched and the data was fsynced.
 */
export async function writeImage(
  target: BlockTarget,
  reader: CosiReader,
  image: PlannedImage,
  options: WriteImageOptions,
): Promise<void> {
  const maxWindowLog = reader.metadata.compression?.maxWindowLog;
  const writer = await createImageWriter({
    target: { fd: target.fd, offset: image.offset, length: image.length },
    expected: {
      sha384: image.sha384,
      compressedSize: image.compressedSize,
      uncompressedSize: image.uncompressedSize,
    },
    ...(maxWindowLog === undefined ? {} : { maxWindowLog }),
    sync: true,
    // The sizes the memory budget counts (memory-budget.ts): the writer holds them plus its window.
    highWaterMark: WRITER_QUEUE_BYTES,
    bufferSize: WRITER_BUFFER_BYTES,
    sparse: options.sparse,
    // Decode into a mapping of the target: the zstd window costs page cache the writer drops as it
    // goes, not heap (a 2^27 window: 80 MiB anonymous memory instead of 208; pnpm bench:memory).
    inPlace: true,
    // The source's chunks are ours once yielded (socket or file reads, read nowhere else): the
    // writer frees each as soon as it is copied, not at the next garbage collection.
    consumeChunks: true,
    ...(options.codec ? { codec: options.codec } : {}),
  });
  const progress = new ProgressTracker({
    phase: 'write',
    total: image.compressedSize,
    image: image.id,
    emit: options.emit,
  });
  let sinceReclaim = 0;
  try {
    const file = {
      path: image.imagePath,
      compressedSize: image.compressedSize,
      uncompressedSize: image.uncompressedSize,
      sha384: image.sha384,
    };
    for await (const chunk of reader.streamCompressed(
      file,
      options.signal ? { signal: options.signal } : {},
    )) {
      options.signal?.throwIfAborted();
      // Read before the write: the writer consumes the chunk (consumeChunks) and it reads as empty.
      const bytes = chunk.length;
      await writer.write(chunk);
      sinceReclaim += bytes;
      if (options.reclaimMemory && sinceReclaim >= RECLAIM_EVERY) {
        sinceReclaim = 0;
        options.reclaimMemory();
      }
      progress.add(bytes);
      options.onBytes(bytes);
    }
    await writer.finish();
    progress.flush();
  } catch (error) {
    await writer.abort().catch(() => undefined);
    throw error;
  }
}
