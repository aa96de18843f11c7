import { type BlockTarget, growShrunkFilesystems } from '@trident/block-writer';
import type { CosiReader } from '@trident/cosi-format';
import { wrapStep } from '../../errors.ts';
import type {
  CommonRequestOptions,
  EngineEvent,
  LogLevel,
  Plan,
  PlannedImage,
  PlannedTarget,
} from '../../types.ts';
import { type Journal, sampleDigest, saveJournal } from './journal.ts';
import { ProgressTracker } from './progress.ts';
import { writeImage } from './write-image.ts';

/** An open target with its journal: what the image phase writes into. */
export interface OpenedTarget {
  planned: PlannedTarget;
  target: BlockTarget;
  journalFile: string;
  journal: Journal;
  /** Partition numbers already written and re-verified by an earlier, interrupted run. */
  done: Set<number>;
  /** Whether the target reads as zeros where nothing was written (a file this run created). */
  fresh: boolean;
  /** Journal saves in order: images finishing together must not race on the file. */
  saving: Promise<void>;
}

export type Log = (level: LogLevel, message: string) => void;

/**
 * Streams every image not already done into its target, `concurrency` at a time. Each image is
 * verified (hash, sizes) and fsynced by the writer, then recorded in its target's journal. The
 * first failure cancels the images still in flight.
 */
export async function writeImages(
  plan: Plan,
  targets: OpenedTarget[],
  reader: CosiReader,
  options: {
    signal: AbortSignal;
    cancel: (reason: unknown) => void;
    codec: CommonRequestOptions['codec'];
    emit: (event: EngineEvent) => void;
    log: Log;
    reclaimMemory?: (() => void) | undefined;
  },
): Promise<number> {
  const todo = plan.images.filter((image) => !targets[image.targetIndex]!.done.has(image.partitionNumber));
  const overall = new ProgressTracker({
    phase: 'write',
    total: todo.reduce((sum, image) => sum + image.compressedSize, 0),
    emit: options.emit,
    intervalMs: 500,
  });
  let compressedBytes = 0;
  await runPool(todo, plan.concurrency, options.signal, options.cancel, async (image) => {
    const opened = targets[image.targetIndex]!;
    options.log(
      'info',
      `Initializing '${image.id}': writing image ${image.imagePath} to partition ${image.partitionNumber} of ${opened.target.path}`,
    );
    const started = performance.now();
    try {
      await writeImage(opened.target, reader, image, {
        signal: options.signal,
        codec: options.codec,
        sparse: opened.fresh,
        emit: options.emit,
        reclaimMemory: options.reclaimMemory,
        onBytes: (bytes) => {
          compressedBytes += bytes;
          overall.add(bytes);
        },
      });
    } catch (error) {
      throw wrapStep(
        'SERVICING_ERROR',
        'deploy-images',
        `Failed to write image '${image.imagePath}' to partition ${image.partitionNumber}`,
        error,
      );
    }
    const seconds = (performance.now() - started) / 1000;
    options.log(
      'debug',
      `Copied ${image.uncompressedSize} bytes to partition ${image.partitionNumber} in ${seconds.toFixed(2)} s: ${(image.uncompressedSize / 1e6 / Math.max(seconds, 1e-3)).toFixed(1)} MB/s`,
    );
    await record(opened, image, options.log);
  });
  overall.flush();
  return compressedBytes;
}

async function record(opened: OpenedTarget, image: PlannedImage, log: Log): Promise<void> {
  opened.journal.images.push({
    partitionNumber: image.partitionNumber,
    offset: image.offset,
    uncompressedSize: image.uncompressedSize,
    sha384: image.sha384,
    sample: await sampleDigest(opened.target, image),
  });
  opened.saving = opened.saving.then(() =>
    saveJournal(opened.journalFile, opened.journal).catch((error: unknown) =>
      log('warn', `Could not save the resume journal ${opened.journalFile}: ${String(error)}`),
    ),
  );
  await opened.saving;
}

/** Runs `work` over `items` with at most `limit` at once; the first failure stops the rest (`onFail`). */
async function runPool<T>(
  items: T[],
  limit: number,
  signal: AbortSignal,
  onFail: (reason: unknown) => void,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async (): Promise<void> => {
    while (failed === undefined && next < items.length) {
      signal.throwIfAborted();
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error) {
        if (failed === undefined) {
          failed = error;
          onFail(error);
        }
        throw error;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed;
  for (const result of results) if (result.status === 'rejected') throw result.reason;
}

/** One signal for a run: the caller's cancels everything, and a failing image cancels the others. */
export function linkedAbort(signal: AbortSignal | undefined): {
  signal: AbortSignal;
  cancel: (reason: unknown) => void;
  dispose: () => void;
} {
  const inner = new AbortController();
  const forward = (): void => inner.abort(signal?.reason);
  signal?.addEventListener('abort', forward, { once: true });
  if (signal?.aborted) forward();
  return {
    signal: inner.signal,
    cancel: (reason) => inner.abort(reason),
    dispose: () => signal?.removeEventListener('abort', forward),
  };
}

/**
 * Grows the shrunk ext filesystems of one disk (target closed first: our exclusive open would make
 * e2fsck refuse the partitions) and logs each outcome.
 */
export async function growImages(
  path: string,
  images: PlannedImage[],
  signal: AbortSignal,
  log: Log,
): Promise<void> {
  const growable = images.filter((image) => image.grow);
  if (growable.length === 0) return;
  try {
    const results = await growShrunkFilesystems(
      path,
      growable.map((i) => ({
        number: i.partitionNumber,
        offset: i.offset,
        size: i.length,
        imageSize: i.uncompressedSize,
        fsType: i.fsType,
      })),
      { signal },
    );
    for (const result of results)
      log('info', `Partition ${result.number} of ${path}: filesystem ${result.action} (${result.reason})`);
  } catch (error) {
    throw wrapStep('SERVICING_ERROR', 'resize-filesystems', 'Failed to grow a shrunk filesystem', error);
  }
}
