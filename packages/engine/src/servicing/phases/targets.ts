import {
  type BlockTarget,
  checkTargetSafety,
  openBlockTarget,
  openFileTarget,
  type SafetyRequirements,
  wipeSignatures,
  writeGpt,
} from '@trident/block-writer';
import type { Plan, PlannedTarget } from '../../types.ts';
import {
  imageMatches,
  type Journal,
  journalPath,
  removeJournal,
  sampleDigest,
  usableJournal,
} from './journal.ts';
import { targetError } from './plan-targets.ts';
import type { Log } from './run-session.ts';

/** What a kind lays out on one target: the table written last, and the sector size it assumes. */
export interface TargetLayout {
  /** Protective MBR, primary header and entries, as block-writer's `writeGpt` takes them. */
  gptRegion: Uint8Array;
  /**
   * The sector size the table is laid out for; the target must have it (stream-disk: the image's
   * LBA size; install: the target's own, which its layout was made for).
   */
  lbaSize: number;
  /** Entries in the table, for the log. */
  partitionCount: number;
  /**
   * Partitions the target keeps (install's adopted partitions): their byte ranges are never wiped,
   * and instead of no table at all the target gets one holding only them until the GPT is written
   * last, so an interrupted run leaves them reachable and nothing pointing at half-written data.
   */
  kept?: { ranges: ReadonlyArray<readonly [number, number]>; gptRegion: Uint8Array };
}

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

/**
 * Targets, from open to release. Every check runs before the first byte is written, on every
 * target kind: image files through `openFileTarget` (no truncation before the checks, locked for the
 * whole run, compared by inode with the files the run reads), block devices opened exclusively and
 * checked. A file this run created is removed again when the run fails before an image verified.
 */

/** How a kind that does not lay out whole disks opens its targets (A/B update: one partition each). */
export interface TargetOpening {
  /** Opens a planned target with that kind's own checks, instead of the whole-disk ones. */
  open(planned: PlannedTarget): Promise<BlockTarget>;
  /** Wipe old signatures before writing (whole disks: yes; a partition rewritten in place: no). */
  wipe: boolean;
}

/**
 * Opens every target of a plan with every check done first, then either wipes old signatures (a
 * fresh run) or, with `resume`, re-verifies what the journal says an earlier run wrote.
 */
export async function openTargets(
  plan: Plan,
  layouts: readonly TargetLayout[],
  protect: string[],
  log: Log,
  opening?: TargetOpening,
): Promise<OpenedTarget[]> {
  const opened: OpenedTarget[] = [];
  const resume = plan.request.resume === true;
  try {
    for (const [index, planned] of plan.targets.entries()) {
      const journalFile = journalPath(planned.path, planned.kind);
      const resumable = resume
        ? await usableJournal(planned.path, planned.kind, plan.source.metadataSha384)
        : undefined;
      if (resume && !resumable)
        log('warn', `Resume: no usable journal for ${planned.path}; starting from the beginning`);
      const requirements: SafetyRequirements = {
        requiredSize: planned.requiredSize ?? plan.requiredSize,
        lbaSize: layouts[index]!.lbaSize,
        protect,
      };
      const target = opening
        ? await opening.open(planned)
        : await openTarget(planned, requirements, resumable !== undefined);
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
      } else if (opening?.wipe !== false) {
        const kept = layouts[index]!.kept;
        await wipeSignatures(target, kept === undefined ? {} : { keep: kept.ranges });
        if (kept === undefined)
          log('info', `Wiped old partition-table and filesystem signatures on ${target.path}`);
        else {
          await writeGpt(target, kept.gptRegion, { lbaSize: layouts[index]!.lbaSize });
          log(
            'info',
            `Wiped old signatures on ${target.path} outside its ${kept.ranges.length} adopted partition(s); it holds a table of only those until the new one is written`,
          );
        }
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
  requirements: SafetyRequirements,
  resuming: boolean,
): Promise<BlockTarget> {
  const protect = requirements.protect ?? [];
  if (planned.kind === 'image-file') {
    try {
      return await openFileTarget(planned.path, {
        size: planned.size,
        sectorSize: planned.sectorSize,
        existing:
          resuming || planned.keepContents === true
            ? 'keep'
            : planned.replace === true
              ? 'replace'
              : 'refuse',
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
