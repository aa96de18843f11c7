import {
  type BlockTarget,
  checkTargetSafety,
  createFileTarget,
  growShrunkFilesystems,
  openBlockTarget,
  rereadPartitionTable,
  wipeSignatures,
  writeGpt,
} from '@trident/block-writer';
import { EngineError, isAbort, wrapStep } from './errors.ts';
import {
  imageMatches,
  type Journal,
  journalPath,
  readJournal,
  removeJournal,
  sampleDigest,
  saveJournal,
} from './journal.ts';
import type { StreamDiskContext } from './plan-stream-disk.ts';
import { ProgressTracker } from './progress.ts';
import type {
  EngineEvent,
  LogLevel,
  Plan,
  PlannedTarget,
  RunOptions,
  RunResult,
  StreamDiskRequest,
} from './types.ts';
import { writeImage } from './write-image.ts';

/**
 * Carries out a stream-disk plan. Order is the safety argument: wipe old signatures, write and
 * verify every partition image at its absolute offset, and only then write the GPT. A run that
 * fails or is interrupted leaves a disk with no partition table, never one that points at
 * half-written data.
 */
export async function runStreamDisk(
  plan: Plan,
  context: StreamDiskContext,
  options: RunOptions,
): Promise<RunResult> {
  const request = plan.request as StreamDiskRequest;
  const started = performance.now();
  const emit = (event: EngineEvent): void => options.onEvent?.(event);
  const log = (level: LogLevel, message: string): void =>
    emit({ type: 'log', time: Date.now(), level, message, target: 'trident::engine::stream_disk' });
  // One failing image cancels the others in flight; the caller's signal cancels everything.
  const inner = new AbortController();
  const forward = (): void => inner.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', forward, { once: true });
  if (options.signal?.aborted) forward();
  const signal = inner.signal;
  const planned = plan.targets[0]!;
  const journalFile = journalPath(planned.path, planned.kind);
  let target: BlockTarget | undefined;
  let compressedBytes = 0;
  try {
    const resumeFrom = request.resume ? await usableJournal(journalFile, plan) : undefined;
    target = await openTarget(planned, plan, Boolean(resumeFrom), request);
    log('info', `Target ${target.path}: ${target.size} bytes, ${target.sectorSize}-byte sectors`);
    const journal: Journal = resumeFrom ?? {
      version: 1,
      metadataSha384: plan.source.metadataSha384,
      target: { path: target.path, size: target.size },
      images: [],
    };

    const skip = new Set<number>();
    if (resumeFrom) {
      for (const entry of resumeFrom.images) {
        const image = plan.images.find((i) => imageMatches(entry, i));
        if (!image) continue;
        if ((await sampleDigest(target, image)) === entry.sample) {
          skip.add(image.partitionNumber);
          log(
            'info',
            `Resume: partition ${image.partitionNumber} (${image.imagePath}) already written and re-verified; skipping`,
          );
        } else {
          log(
            'warn',
            `Resume: partition ${image.partitionNumber} no longer matches what was written; writing it again`,
          );
        }
      }
      journal.images = journal.images.filter((entry) => skip.has(entry.partitionNumber));
    } else {
      await wipeSignatures(target);
      log('info', 'Wiped old partition-table and filesystem signatures');
    }

    const todo = plan.images.filter((image) => !skip.has(image.partitionNumber));
    const total = todo.reduce((sum, image) => sum + image.compressedSize, 0);
    const overall = new ProgressTracker({ phase: 'write', total, emit, intervalMs: 500 });
    const openTargetRef = target;
    await runPool(
      todo,
      plan.concurrency,
      signal,
      () => inner.abort(new Error('another image failed')),
      async (image) => {
        log(
          'info',
          `Initializing '${image.id}': writing image ${image.imagePath} to partition ${image.partitionNumber} of ${openTargetRef.path}`,
        );
        const t0 = performance.now();
        try {
          await writeImage(openTargetRef, context.reader, image, {
            signal,
            codec: request.codec,
            sparse: planned.create && !resumeFrom,
            emit,
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
        const seconds = (performance.now() - t0) / 1000;
        log(
          'debug',
          `Copied ${image.uncompressedSize} bytes to partition ${image.partitionNumber} in ${seconds.toFixed(2)} s: ${(image.uncompressedSize / 1e6 / Math.max(seconds, 1e-3)).toFixed(1)} MB/s`,
        );
        journal.images.push({
          partitionNumber: image.partitionNumber,
          offset: image.offset,
          uncompressedSize: image.uncompressedSize,
          sha384: image.sha384,
          sample: await sampleDigest(openTargetRef, image),
        });
        await saveJournal(journalFile, journal).catch((error: unknown) =>
          log('warn', `Could not save the resume journal ${journalFile}: ${String(error)}`),
        );
      },
    );
    overall.flush();

    signal?.throwIfAborted();
    try {
      await writeGpt(target, context.gptRegion, { lbaSize: plan.lbaSize });
    } catch (error) {
      throw wrapStep('SERVICING_ERROR', 'create-partitions', 'Failed to write the GPT', error);
    }
    log('info', `Wrote the GPT (${context.gpt.partitions.length} partitions) after every image verified`);
    await removeJournal(journalFile);
    const path = target.path;
    await target.close();
    target = undefined;

    if (planned.kind === 'disk') {
      const reread = await rereadPartitionTable(path).catch((error: unknown) => {
        throw wrapStep(
          'SERVICING_ERROR',
          'create-partitions',
          `Failed to make the kernel re-read the partition table of ${path}`,
          error,
        );
      });
      void reread;
    }
    const growable = plan.images.filter((image) => image.grow);
    if (growable.length > 0) {
      try {
        const results = await growShrunkFilesystems(
          path,
          growable.map((image) => ({
            number: image.partitionNumber,
            offset: image.offset,
            size: image.length,
            imageSize: image.uncompressedSize,
            fsType: image.fsType,
          })),
          signal ? { signal } : {},
        );
        for (const result of results)
          log('info', `Partition ${result.number}: filesystem ${result.action} (${result.reason})`);
      } catch (error) {
        throw wrapStep('SERVICING_ERROR', 'resize-filesystems', 'Failed to grow a shrunk filesystem', error);
      }
    }
    return {
      status: 'success',
      imageHash: `sha384:${plan.source.metadataSha384}`,
      servicingKind: 'clean-install',
      rebootRequired: planned.kind === 'disk',
      stats: {
        elapsed: (performance.now() - started) / 1000,
        bytesWritten: plan.images.reduce((s, i) => s + i.uncompressedSize, 0),
        compressedBytes,
      },
    };
  } catch (error) {
    const failure =
      error instanceof EngineError
        ? error
        : isAbort(error) || options.signal?.aborted
          ? wrapStep('SERVICING_ERROR', 'cancelled', 'stream-disk', options.signal?.reason ?? error)
          : wrapStep('SERVICING_ERROR', 'deploy-images', 'stream-disk failed', error);
    log('error', failure.message);
    return { status: 'failure', rebootRequired: false, error: failure.tridentError };
  } finally {
    options.signal?.removeEventListener('abort', forward);
    await target?.close().catch(() => undefined);
    await context.reader.close().catch(() => undefined);
  }
}

async function usableJournal(path: string, plan: Plan): Promise<Journal | undefined> {
  const journal = await readJournal(path);
  if (!journal) return undefined;
  const target = plan.targets[0]!;
  if (journal.metadataSha384 !== plan.source.metadataSha384 || journal.target.path !== target.path)
    return undefined;
  return journal;
}

async function openTarget(
  planned: PlannedTarget,
  plan: Plan,
  resuming: boolean,
  request: StreamDiskRequest,
): Promise<BlockTarget> {
  let target: BlockTarget;
  try {
    if (planned.kind === 'image-file' && !resuming) {
      const overwrite = request.target?.kind === 'image-file' && request.target.overwrite === true;
      target = await createFileTarget(planned.path, {
        size: planned.size,
        sectorSize: plan.lbaSize,
        overwrite,
      });
    } else {
      target = await openBlockTarget(planned.path, { fileSectorSize: plan.lbaSize });
    }
  } catch (error) {
    throw wrapStep(
      'UNSUPPORTED_CONFIGURATION_ERROR',
      'unsafe-target',
      `Cannot open the target ${planned.path}`,
      error,
    );
  }
  try {
    await checkTargetSafety(target, { requiredSize: plan.requiredSize, lbaSize: plan.lbaSize });
  } catch (error) {
    await target.close();
    throw wrapStep(
      'UNSUPPORTED_CONFIGURATION_ERROR',
      'unsafe-target',
      `Refusing to write ${planned.path}`,
      error,
    );
  }
  return target;
}

/** Runs `work` over `items` with at most `limit` at once; the first failure stops the rest (`onFail`). */
async function runPool<T>(
  items: T[],
  limit: number,
  signal: AbortSignal | undefined,
  onFail: () => void,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async (): Promise<void> => {
    while (failed === undefined && next < items.length) {
      signal?.throwIfAborted();
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error) {
        if (failed === undefined) {
          failed = error;
          onFail();
        }
        throw error;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed;
  for (const result of results) if (result.status === 'rejected') throw result.reason;
}
