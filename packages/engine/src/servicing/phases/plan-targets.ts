import { lstat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  inspectFileTarget,
  isBlockWriterError,
  type SafetyRequirements,
  type selectDisk,
} from '@trident/block-writer';
import { EngineError, wrapStep } from '../../errors.ts';
import type { PlannedTarget } from '../../types.ts';
import { usableJournal } from './journal.ts';

/**
 * Target checks at plan time, shared by every kind: the files a run reads (never to be written),
 * how target failures map to Trident's subkinds, and the look at a disk-image file that makes
 * `--dry-run` refuse what the run would refuse.
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

/**
 * Files a run reads and must therefore never write: the image (when it is local) and any other
 * input file of the request (the Host Configuration), as absolute paths.
 */
export function protectedFiles(imageUrl: string, ...inputFiles: Array<string | undefined>): string[] {
  return [
    localPathOf(imageUrl),
    ...inputFiles.map((file) => (file === undefined ? undefined : resolve(file))),
  ].filter((file): file is string => file !== undefined);
}

/** What target checks need to know before the plan is complete. */
export interface TargetChecks {
  /** The image's metadata hash: a resume journal must be for this image. */
  metadataSha384: string;
  /** `protectedFiles` of the request. */
  protect: string[];
  resume: boolean;
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
 * Plan-time look at a disk-image file target: what the run's open would refuse (not a file, exists
 * without `overwrite`, a symlink, in use, the image itself, locked by another run), so `--dry-run`
 * and the plan fail the same way the run would, with nothing written.
 */
export async function checkPlannedFile(
  target: { path: string; size: number; sectorSize: number; replace: boolean; keep?: boolean },
  checks: TargetChecks,
  requirements: SafetyRequirements,
): Promise<void> {
  const existing = await lstat(target.path).catch(() => undefined);
  if (existing && !existing.isFile() && !existing.isSymbolicLink()) {
    // A device or directory is not a wrong file but a wrong kind of target: say which flag fits.
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-target',
      `${target.path} exists and is not a regular file; use --disk for block devices`,
      { code: 'ENGINE_TARGET_NOT_FILE' },
    );
  }
  const keep =
    target.keep === true ||
    (checks.resume && (await usableJournal(target.path, 'image-file', checks.metadataSha384)) !== undefined);
  const report = await inspectFileTarget(target.path, {
    size: target.size,
    sectorSize: target.sectorSize,
    existing: keep ? 'keep' : target.replace ? 'replace' : 'refuse',
    requirements: { ...requirements, protect: checks.protect },
  }).catch((error: unknown) => {
    throw targetError(`Cannot use ${target.path} as the target`, error);
  });
  const first = report.problems[0];
  if (first !== undefined) throw targetError(`Refusing to write ${target.path}`, first.toError());
}

/**
 * A block device as a plan records it, from block-writer's selection; `listConsidered` adds every
 * disk looked at and why it was skipped (automatic selection, where the choice needs explaining).
 */
export function plannedDisk(
  selection: Awaited<ReturnType<typeof selectDisk>>,
  options: { requiredSize?: number; listConsidered?: boolean } = {},
): PlannedTarget {
  return {
    kind: 'disk',
    path: selection.path,
    size: selection.size,
    sectorSize: selection.sectorSize,
    create: false,
    ...(options.requiredSize === undefined ? {} : { requiredSize: options.requiredSize }),
    ...(options.listConsidered === true
      ? {
          considered: selection.considered.map((d) => ({
            path: d.path,
            size: d.size,
            chosen: d.selected,
            ...(d.reasons.length > 0 ? { reason: d.reasons.map((r) => r.reason).join('; ') } : {}),
          })),
        }
      : {}),
  };
}
