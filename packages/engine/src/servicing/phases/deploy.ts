import type { CosiReader } from '@trident/cosi-format';
import type { Plan, RunResult } from '../../types.ts';
import { writeTablesLast } from './gpt-last.ts';
import { growImages } from './grow.ts';
import { failedRun, type RunSession } from './run-session.ts';
import { type OpenedTarget, openTargets, releaseTargets, type TargetLayout } from './targets.ts';
import { writeImages } from './write-images.ts';

/** What a kind hands the shared run: where its images come from and how each target ends. */
export interface Deployment {
  /** The open image, or undefined when the plan writes no image (an install of new filesystems only). */
  reader: CosiReader | undefined;
  /** One per `plan.targets` entry, in the same order. */
  layouts: readonly TargetLayout[];
  /** Files the run reads (`protectedFiles`): never a target. */
  protect: string[];
  /**
   * Work between the verified images and the partition tables, on the still-open targets (install
   * creates its new filesystems and swap areas here). Nothing here may need a partition table.
   */
  beforeTables?: (opened: readonly OpenedTarget[]) => Promise<void>;
}

/**
 * The run every kind that lays out whole disks shares, in the order that is its safety argument:
 * open every target with every check first, wipe old signatures (or re-verify a resumed run's
 * images), write and verify every image at its absolute offset, the kind's own step, then the GPT
 * last, the kernel's re-read, and growing shrunk filesystems. A run that fails or is interrupted
 * before the tables leaves disks with no partition table, never one pointing at half-written data.
 * Failures come back as a RunResult, never thrown; the targets are released either way.
 */
export async function deploy(plan: Plan, deployment: Deployment, session: RunSession): Promise<RunResult> {
  const started = performance.now();
  let opened: OpenedTarget[] = [];
  let succeeded = false;
  try {
    opened = await openTargets(plan, deployment.layouts, deployment.protect, session.log);
    const compressedBytes = deployment.reader
      ? await writeImages(plan, opened, deployment.reader, session)
      : 0;
    session.signal.throwIfAborted();
    await deployment.beforeTables?.(opened);
    await writeTablesLast(opened, deployment.layouts, session.signal, session.log);
    for (const [index, entry] of opened.entries()) {
      await growImages(
        entry.planned.path,
        plan.images.filter((image) => image.targetIndex === index),
        session.signal,
        session.log,
      );
    }
    succeeded = true;
    return {
      status: 'success',
      ...(plan.source.metadataSha384 ? { imageHash: `sha384:${plan.source.metadataSha384}` } : {}),
      servicingKind: 'clean-install',
      rebootRequired: plan.targets.some((target) => target.kind === 'disk'),
      stats: {
        elapsed: (performance.now() - started) / 1000,
        bytesWritten: plan.images.reduce((sum, image) => sum + image.uncompressedSize, 0),
        compressedBytes,
      },
    };
  } catch (error) {
    return failedRun(error, session);
  } finally {
    await releaseTargets(opened, { succeeded, log: session.log });
  }
}
