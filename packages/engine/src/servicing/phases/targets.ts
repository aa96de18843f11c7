import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type BlockTarget,
  checkTargetSafety,
  inspectFileTarget,
  isBlockWriterError,
  openBlockTarget,
  openFileTarget,
  type SafetyRequirements,
  wipeSignatures,
} from '@trident/block-writer';
import { EngineError, wrapStep } from '../../errors.ts';
import type { CommonRequestOptions, EngineRequest, Plan, PlannedTarget } from '../../types.ts';
import {
  imageMatches,
  type Journal,
  journalPath,
  readJournal,
  removeJournal,
  sampleDigest,
} from './journal.ts';
import type { Log, OpenedTarget } from './write-images.ts';

/**
 * Targets, from plan to release. Every check runs before the first byte is written, on every
 * target kind: image files through `openFileTarget` (no truncation before the checks, locked for the
 * whole run, compared by inode with the files the run reads), block devices opened exclusively and
 * checked. A file this run created is removed again when the run fails before an image verified.
 */

/** The local file behind a COSI location (a path or file:// URL), if it is one. */
export function localPathOf(location: string): string | undefined {
  if (location === '') return undefined;
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//u.exec(location)?.[1]?.toLowerCase();
  if (scheme === undefined) return resolve(location);
  if (scheme !== 'file') return undefined;
  try {
    return fileURLToPath(location);
  } catch {
    return undefined;
  }
}

/** What target checks need of a plan, available before the plan is complete. */
export interface PlanBasics {
  request: EngineRequest;
  source: { url: string; metadataSha384: string };
}

/** Files a run reads and must therefore never write: the image, the Host Configuration. */
export function protectedFiles(plan: PlanBasics): string[] {
  const files = [localPathOf(plan.source.url)];
  if (plan.request.kind === 'install' && plan.request.hostConfiguration.path !== undefined)
    files.push(resolve(plan.request.hostConfiguration.path));
  return files.filter((file): file is string => file !== undefined);
}

/** A journal an interrupted run left for this target and image, or undefined. */
export async function usableJournal(
  path: string,
  kind: PlannedTarget['kind'],
  metadataSha384: string,
): Promise<Journal | undefined> {
  const previous = await readJournal(journalPath(path, kind));
  return previous && previous.metadataSha384 === metadataSha384 && previous.target.path === path
    ? previous
    : undefined;
}

/** Safety and target-shape failures as engine errors: shape → invalid-target, the rest → unsafe-target. */
export function targetError(context: string, error: unknown): EngineError {
  if (
    isBlockWriterError(error) &&
    (error.code === 'BLOCK_TARGET_NOT_SUPPORTED' || error.code === 'BLOCK_TARGET_NOT_FOUND')
  ) {
    return new EngineError('INVALID_INPUT_ERROR', 'invalid-target', `${context}: ${error.message}`, {
      cause: error,
    });
  }
  return wrapStep('UNSUPPORTED_CONFIGURATION_ERROR', 'unsafe-target', context, error);
}

/**
 * Plan-time look at a disk-image file target: what the run's open would refuse (exists without
 * `overwrite`, a symlink, in use, the image itself, locked by another run), so `--dry-run` and the
 * plan fail the same way the run would, with nothing written.
 */
export async function checkPlannedFile(
  target: { path: string; size: number; sectorSize: number; replace: boolean; resume: boolean },
  plan: PlanBasics,
  requirements: SafetyRequirements,
): Promise<void> {
  const keep =
    target.resume &&
    (await usableJournal(target.path, 'image-file', plan.source.metadataSha384)) !== undefined;
  const report = await inspectFileTarget(target.path, {
    size: target.size,
    sectorSize: target.sectorSize,
    existing: keep ? 'keep' : target.replace ? 'replace' : 'refuse',
    requirements: { ...requirements, protect: protectedFiles(plan) },
  }).catch((error: unknown) => {
    throw targetError(`Cannot use ${target.path} as the target`, error);
  });
  const first = report.problems[0];
  if (first !== undefined) throw targetError(`Refusing to write ${target.path}`, first.toError());
}

/**
 * Opens every target of a plan with every check done first, then either wipes old signatures (a
 * fresh run) or, with `resume`, re-verifies what the journal says an earlier run wrote.
 */
export async function openTargets(
  plan: Plan,
  request: CommonRequestOptions & { resume?: boolean },
  log: Log,
): Promise<OpenedTarget[]> {
  const opened: OpenedTarget[] = [];
  const protect = protectedFiles(plan);
  try {
    for (const [index, planned] of plan.targets.entries()) {
      const journalFile = journalPath(planned.path, planned.kind);
      const resumable = request.resume
        ? await usableJournal(planned.path, planned.kind, plan.source.metadataSha384)
        : undefined;
      if (request.resume && !resumable)
        log('warn', `Resume: no usable journal for ${planned.path}; starting from the beginning`);
      const target = await openTarget(planned, plan, resumable !== undefined, protect);
      log('info', `Target ${target.path}: ${target.size} bytes, ${target.sectorSize}-byte sectors`);
      const entry: OpenedTarget = {
        planned,
        target,
        journalFile,
        journal: resumable ?? {
          version: 1,
          metadataSha384: plan.source.metadataSha384,
          target: { path: target.path, size: target.size },
          images: [],
        },
        done: new Set(),
        fresh: planned.kind === 'image-file' && !resumable,
        saving: Promise.resolve(),
      };
      opened.push(entry);
      if (resumable) {
        for (const record of resumable.images) {
          const image = plan.images.find((i) => i.targetIndex === index && imageMatches(record, i));
          if (!image) continue;
          if ((await sampleDigest(target, image)) === record.sample) {
            entry.done.add(image.partitionNumber);
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
        entry.journal.images = entry.journal.images.filter((record) =>
          entry.done.has(record.partitionNumber),
        );
      } else {
        await wipeSignatures(target);
        log('info', `Wiped old partition-table and filesystem signatures on ${target.path}`);
      }
    }
    return opened;
  } catch (error) {
    await releaseTargets(opened, { succeeded: false, log });
    throw error;
  }
}

async function openTarget(
  planned: PlannedTarget,
  plan: Plan,
  resuming: boolean,
  protect: string[],
): Promise<BlockTarget> {
  // Stream-disk lays the image's GPT out with the image's LBA size, so the target must match it;
  // install lays out its own table with the target's sector size.
  const requirements: SafetyRequirements = {
    requiredSize: planned.requiredSize ?? plan.requiredSize,
    lbaSize: plan.request.kind === 'stream-disk' ? plan.lbaSize : planned.sectorSize,
    protect,
  };
  if (planned.kind === 'image-file') {
    try {
      return await openFileTarget(planned.path, {
        size: planned.size,
        sectorSize: planned.sectorSize,
        existing: resuming ? 'keep' : planned.replace === true ? 'replace' : 'refuse',
        requirements,
      });
    } catch (error) {
      throw targetError(`Refusing to write ${planned.path}`, error);
    }
  }
  let target: BlockTarget;
  try {
    target = await openBlockTarget(planned.path, { requirements: { protect } });
  } catch (error) {
    throw targetError(`Cannot open the target ${planned.path}`, error);
  }
  try {
    await checkTargetSafety(target, requirements);
  } catch (error) {
    await target.close();
    throw targetError(`Refusing to write ${planned.path}`, error);
  }
  return target;
}

/**
 * Ends a run's hold on its targets: closes them and drops their locks. After a failure, a file
 * this run created that holds no verified image is removed (with its journal), so the next run
 * needs no `--force`; one that holds verified images stays for `--resume`.
 */
export async function releaseTargets(
  opened: readonly OpenedTarget[],
  options: { succeeded: boolean; log: Log },
): Promise<void> {
  for (const entry of opened) {
    const { target } = entry;
    try {
      if (!options.succeeded && target.created && entry.journal.images.length === 0) {
        if (await target.discardCreated()) {
          await removeJournal(entry.journalFile);
          options.log(
            'info',
            `Removed ${target.path}: this run created it and wrote no verified image to it`,
          );
        }
      } else {
        await target.close();
      }
    } catch (error) {
      options.log('warn', `Could not release the target ${target.path}: ${String(error)}`);
    }
  }
}
