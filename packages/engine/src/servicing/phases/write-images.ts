import type { CosiReader } from '@trident/cosi-format';
import { wrapStep } from '../../errors.ts';
import { type ConcurrencyPlan, planImageMemory } from '../../memory-budget.ts';
import type { CommonRequestOptions, Plan, PlannedImage } from '../../types.ts';
import { sampleDigest, saveJournal } from './journal.ts';
import { ProgressTracker } from './progress.ts';
import type { Log, RunSession } from './run-session.ts';
import type { OpenedTarget } from './targets.ts';
import { writeImage } from './write-image.ts';

/** Images written at once unless the request says otherwise: the fastest on the 2-core benchmark machine. */
export const DEFAULT_CONCURRENCY = 2;

/**
 * The concurrency a plan records for a request: at most `concurrency` (default 2), at least one
 * image at a time, and as many as the memory budget holds given the images' zstd window (see
 * memory-budget.ts); with the plan line that says why. Throws `insufficient-memory` when even one
 * image cannot fit: planning writes nothing.
 */
export function planConcurrency(
  request: CommonRequestOptions,
  images: ReadonlyArray<{ id: string; imagePath: string }>,
  maxWindowLog: number | undefined,
): ConcurrencyPlan {
  return planImageMemory(request, images, maxWindowLog, DEFAULT_CONCURRENCY);
}

/**
 * Streams every image not already done into its target, `concurrency` at a time. Each image is
 * verified (hash, sizes) and fsynced by the writer, then recorded in its target's journal. The
 * first failure cancels the images still in flight.
 */
export async function writeImages(
  plan: Plan,
  targets: OpenedTarget[],
  reader: CosiReader,
  session: RunSession,
): Promise<number> {
  const todo = plan.images.filter((image) => !targets[image.targetIndex]!.done.has(image.partitionNumber));
  const overall = new ProgressTracker({
    phase: 'write',
    total: todo.reduce((sum, image) => sum + image.compressedSize, 0),
    emit: session.emit,
    intervalMs: 500,
  });
  let compressedBytes = 0;
  await runPool(todo, plan.concurrency, session.signal, session.cancel, async (image) => {
    const opened = targets[image.targetIndex]!;
    session.log(
      'info',
      `Initializing '${image.id}': writing image ${image.imagePath} to partition ${image.partitionNumber} of ${opened.target.path}`,
    );
    const started = performance.now();
    try {
      await writeImage(opened.target, reader, image, {
        signal: session.signal,
        codec: plan.request.codec,
        sparse: opened.fresh,
        emit: session.emit,
        reclaimMemory: session.reclaimMemory,
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
    session.log(
      'debug',
      `Copied ${image.uncompressedSize} bytes to partition ${image.partitionNumber} in ${seconds.toFixed(2)} s: ${(image.uncompressedSize / 1e6 / Math.max(seconds, 1e-3)).toFixed(1)} MB/s`,
    );
    await record(opened, image, session.log);
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
