import { stat } from 'node:fs/promises';
import { inspectTarget, isBlockWriterError, selectDisk } from '@trident/block-writer';
import type { Disk } from '@trident/host-config';
import { EngineError } from '../../errors.ts';
import type { PlannedTarget, TargetRequest } from '../../types.ts';
import { checkPlannedFile, plannedDisk, type TargetChecks, targetError } from '../phases/plan-targets.ts';
import { minimumDiskSize } from './layout.ts';

/**
 * Where one configured disk goes: a disk-image file (sized to hold the fixed partitions, 1 MiB
 * rounded; a `grow` partition needs an explicit size) or the named block device, with the checks
 * the run will make.
 */
export async function planDiskTarget(
  disk: Disk,
  request: TargetRequest,
  checks: TargetChecks,
): Promise<PlannedTarget> {
  if (request.kind === 'image-file' && disk.adoptedPartitions.length > 0)
    return planAdoptingFile(disk, request.path, request.size, checks);
  if (request.kind === 'image-file') {
    const minimum = minimumDiskSize(disk, 512);
    if (request.size === undefined && disk.partitions.some((p) => p.size === 'grow')) {
      throw new EngineError(
        'INVALID_INPUT_ERROR',
        'invalid-target',
        `disk '${disk.id}' has a 'grow' partition: give the image file a size (--disk ${disk.id}=image:${request.path}:SIZE)`,
      );
    }
    const size = Math.ceil(Math.max(request.size ?? 0, minimum) / 1048576) * 1048576;
    const replace = request.overwrite === true;
    await checkPlannedFile({ path: request.path, size, sectorSize: 512, replace }, checks, {
      requiredSize: minimum,
      lbaSize: 512,
    });
    return {
      kind: 'image-file',
      path: request.path,
      size,
      sectorSize: 512,
      create: true,
      replace,
      requiredSize: minimum,
    };
  }
  if (request.kind === 'auto')
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-target',
      `disk '${disk.id}': install needs a device for every disk`,
    );
  try {
    const protect = checks.protect;
    const report = await inspectTarget(request.path, { protect });
    const requiredSize = minimumDiskSize(disk, report.sectorSize);
    const selection = await selectDisk({
      disk: request.path,
      requiredSize,
      lbaSize: report.sectorSize,
      protect,
    });
    return plannedDisk(selection, { requiredSize });
  } catch (error) {
    if (isBlockWriterError(error) && error.code === 'BLOCK_TARGET_TOO_SMALL') {
      throw new EngineError(
        'UNSUPPORTED_CONFIGURATION_ERROR',
        'no-suitable-disk',
        `disk '${disk.id}': ${error.message}`,
        { cause: error },
      );
    }
    throw targetError(`disk '${disk.id}' (${request.path}) cannot be written`, error);
  }
}

/**
 * A disk-image file that keeps adopted partitions: it must exist (its partitions are what is
 * adopted), keeps its size and contents, and is opened as it is; no `--force` is needed, as
 * upstream asks no safety override of a disk with adopted partitions.
 */
async function planAdoptingFile(
  disk: Disk,
  path: string,
  size: number | undefined,
  checks: TargetChecks,
): Promise<PlannedTarget> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined || !info.isFile())
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-target',
      `disk '${disk.id}' adopts partitions, so its disk-image file ${path} must already exist and hold them${info === undefined ? '; it does not exist' : '; it is not a regular file'}`,
      { code: 'ENGINE_ADOPTED_DISK_MISSING' },
    );
  // A size that names the file's own (exactly, or rounded up to MiB as for new files) is accepted.
  if (size !== undefined && size !== info.size && Math.ceil(size / 1048576) * 1048576 !== info.size)
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-target',
      `disk '${disk.id}' adopts partitions from ${path}, which keeps its size (${info.size} bytes); drop the size from --disk ${disk.id}=image:${path}`,
      { code: 'ENGINE_ADOPTED_DISK_RESIZE' },
    );
  const minimum = minimumDiskSize(disk, 512);
  await checkPlannedFile({ path, size: info.size, sectorSize: 512, replace: false, keep: true }, checks, {
    requiredSize: minimum,
    lbaSize: 512,
  });
  return {
    kind: 'image-file',
    path,
    size: info.size,
    sectorSize: 512,
    create: false,
    keepContents: true,
    requiredSize: minimum,
  };
}
