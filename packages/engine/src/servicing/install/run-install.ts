import { rereadPartitionTable, writeGpt } from '@trident/block-writer';
import { wrapStep } from '../../errors.ts';
import type { EngineEvent, InstallRequest, LogLevel, Plan, RunOptions, RunResult } from '../../types.ts';
import { removeJournal } from '../phases/journal.ts';
import { openTargets, releaseTargets } from '../phases/targets.ts';
import { growImages, linkedAbort, type OpenedTarget, writeImages } from '../phases/write-images.ts';
import { failure } from '../stream-disk/run-stream-disk.ts';
import { makeFilesystem } from './make-filesystems.ts';
import { type InstallContext, planInstall, takeInstallContext } from './plan-install.ts';

/**
 * Carries out an install plan with the same rules as stream-disk: wipe, write and verify every
 * image, create the new filesystems and swap areas inside their partitions' byte ranges, and only
 * then write each disk's GPT.
 */
export async function runInstall(plan: Plan, options: RunOptions): Promise<RunResult> {
  const request = plan.request as InstallRequest;
  const started = performance.now();
  const emit = (event: EngineEvent): void => options.onEvent?.(event);
  const log = (level: LogLevel, message: string): void =>
    emit({ type: 'log', time: Date.now(), level, message, target: 'trident::engine::install' });
  let context: InstallContext | undefined = takeInstallContext(plan);
  const abort = linkedAbort(options.signal);
  let opened: OpenedTarget[] = [];
  let succeeded = false;
  try {
    if (!context) {
      // A plan from elsewhere: plan again, and keep the layouts of this process.
      const fresh = await planInstall(request, options.signal ? { signal: options.signal } : {});
      context = takeInstallContext(fresh);
    }
    const { reader, layouts } = context!;
    opened = await openTargets(plan, request, log);
    const compressedBytes = reader
      ? await writeImages(plan, opened, reader, {
          ...abort,
          codec: request.codec,
          emit,
          log,
          reclaimMemory: options.reclaimMemory,
        })
      : 0;
    for (const fs of plan.newFilesystems) {
      abort.signal.throwIfAborted();
      log('info', `Creating ${fs.fsType} on '${fs.id}'`);
      await makeFilesystem(opened[fs.targetIndex]!.target, fs);
    }
    const written: Array<Awaited<ReturnType<typeof writeGpt>>> = [];
    for (const [index, entry] of opened.entries()) {
      abort.signal.throwIfAborted();
      try {
        written.push(
          await writeGpt(entry.target, layouts[index]!.gptRegion, { lbaSize: entry.planned.sectorSize }),
        );
      } catch (error) {
        throw wrapStep(
          'SERVICING_ERROR',
          'create-partitions',
          `Failed to write the GPT on ${entry.target.path}`,
          error,
        );
      }
      log('info', `Wrote the GPT on ${entry.target.path} (${layouts[index]!.partitions.length} partitions)`);
      await removeJournal(entry.journalFile);
    }
    // Closed for re-reading and growing; file targets stay locked until the run is over.
    for (const entry of opened) await entry.target.close({ keepLock: true });
    for (const [index, entry] of opened.entries()) {
      if (entry.planned.kind !== 'disk') continue;
      try {
        await rereadPartitionTable(entry.planned.path, {
          expected: written[index]!.partitions,
          signal: abort.signal,
        });
      } catch (error) {
        throw wrapStep(
          'SERVICING_ERROR',
          'create-partitions',
          `Failed to make the kernel re-read the partition table of ${entry.planned.path}`,
          error,
        );
      }
    }
    for (const [index, entry] of opened.entries()) {
      await growImages(
        entry.planned.path,
        plan.images.filter((image) => image.targetIndex === index),
        abort.signal,
        log,
      );
    }
    succeeded = true;
    return {
      status: 'success',
      ...(plan.source.metadataSha384 ? { imageHash: `sha384:${plan.source.metadataSha384}` } : {}),
      servicingKind: 'clean-install',
      rebootRequired: plan.targets.some((t) => t.kind === 'disk'),
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
    await context?.reader?.close().catch(() => undefined);
  }
}
