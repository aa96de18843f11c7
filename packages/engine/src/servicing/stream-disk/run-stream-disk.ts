import { rereadPartitionTable, writeGpt } from '@trident/block-writer';
import { EngineError, isAbort, wrapStep } from '../../errors.ts';
import type { EngineEvent, LogLevel, Plan, RunOptions, RunResult, StreamDiskRequest } from '../../types.ts';
import { removeJournal } from '../phases/journal.ts';
import { openTargets, releaseTargets } from '../phases/targets.ts';
import { growImages, linkedAbort, type OpenedTarget, writeImages } from '../phases/write-images.ts';
import type { StreamDiskContext } from './plan-stream-disk.ts';

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
  const abort = linkedAbort(options.signal);
  let opened: OpenedTarget[] = [];
  let succeeded = false;
  try {
    opened = await openTargets(plan, request, log);
    const compressedBytes = await writeImages(plan, opened, context.reader, {
      ...abort,
      codec: request.codec,
      emit,
      log,
      reclaimMemory: options.reclaimMemory,
    });
    abort.signal.throwIfAborted();
    const { target, journalFile, planned } = opened[0]!;
    let written: Awaited<ReturnType<typeof writeGpt>>;
    try {
      written = await writeGpt(target, context.gptRegion, { lbaSize: plan.lbaSize });
    } catch (error) {
      throw wrapStep('SERVICING_ERROR', 'create-partitions', 'Failed to write the GPT', error);
    }
    log('info', `Wrote the GPT (${context.gpt.partitions.length} partitions) after every image verified`);
    await removeJournal(journalFile);
    const path = target.path;
    // Close before re-reading and growing (our exclusive open would make both refuse), but keep a
    // file target's lock until the run is over.
    await target.close({ keepLock: true });
    if (planned.kind === 'disk') {
      try {
        await rereadPartitionTable(path, { expected: written.partitions, signal: abort.signal });
      } catch (error) {
        throw wrapStep(
          'SERVICING_ERROR',
          'create-partitions',
          `Failed to make the kernel re-read the partition table of ${path}`,
          error,
        );
      }
    }
    await growImages(path, plan.images, abort.signal, log);
    succeeded = true;
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
    return failure(error, options.signal, log);
  } finally {
    abort.dispose();
    await releaseTargets(opened, { succeeded, log });
    await context.reader.close().catch(() => undefined);
  }
}

/** A failure as RunResult: cancellation is SERVICING_ERROR `cancelled`, anything unnamed `deploy-images`. */
export function failure(
  error: unknown,
  signal: AbortSignal | undefined,
  log: (level: LogLevel, message: string) => void,
): RunResult {
  const failed =
    error instanceof EngineError
      ? error
      : isAbort(error) || signal?.aborted
        ? wrapStep('SERVICING_ERROR', 'cancelled', 'the run was interrupted', signal?.reason ?? error)
        : wrapStep('SERVICING_ERROR', 'deploy-images', 'the run failed', error);
  log('error', failed.message);
  return { status: 'failure', rebootRequired: false, error: failed.tridentError };
}
