import { rereadPartitionTable, writeGpt } from '@trident/block-writer';
import { wrapStep } from '../errors.ts';
import { growImages, linkedAbort, type OpenedTarget, openTargets, writeImages } from '../image-phase.ts';
import { removeJournal } from '../journal.ts';
import { failure } from '../run-stream-disk.ts';
import type { EngineEvent, InstallRequest, LogLevel, Plan, RunOptions, RunResult } from '../types.ts';
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
  try {
    if (!context) {
      // A plan from elsewhere: plan again, and keep the layouts of this process.
      const fresh = await planInstall(request, options.signal ? { signal: options.signal } : {});
      context = takeInstallContext(fresh);
    }
    const { reader, layouts } = context!;
    opened = await openTargets(
      plan,
      request,
      (index) => {
        const id = Object.entries(request.disks ?? {}).find(
          ([, t]) => t.kind === 'image-file' && t.path === plan.targets[index]!.path,
        );
        return id !== undefined && id[1].kind === 'image-file' && id[1].overwrite === true;
      },
      log,
    );
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
    for (const [index, entry] of opened.entries()) {
      abort.signal.throwIfAborted();
      try {
        await writeGpt(entry.target, layouts[index]!.gptRegion, { lbaSize: entry.planned.sectorSize });
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
    const closed = opened;
    opened = [];
    for (const entry of closed) await entry.target.close();
    for (const entry of closed) {
      if (entry.planned.kind === 'disk') await rereadPartitionTable(entry.planned.path);
    }
    for (const [index, entry] of closed.entries()) {
      await growImages(
        entry.planned.path,
        plan.images.filter((image) => image.targetIndex === index),
        abort.signal,
        log,
      );
    }
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
    for (const entry of opened) await entry.target.close().catch(() => undefined);
    await context?.reader?.close().catch(() => undefined);
  }
}
