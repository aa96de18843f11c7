import { lstat } from 'node:fs/promises';
import { inspectTarget, isBlockWriterError, planGpt, selectDisk } from '@trident/block-writer';
import { type CosiReader, formatSha384 } from '@trident/cosi-format';
import {
  checkImageCompatibility,
  type Disk,
  formatFinding,
  type HostConfiguration,
  normalizeMountPath,
  parseHostConfig,
} from '@trident/host-config';
import { EngineError, wrapStep } from '../../errors.ts';
import { hostOsArch } from '../../host-arch.ts';
import { imageFactsFromCosi } from '../../image-facts.ts';
import type { Plan, PlannedImage, PlannedNewFilesystem, PlannedTarget, TargetRequest } from '../../types.ts';
import type { KindPlan } from '../kind.ts';
import { shouldGrow } from '../phases/grow.ts';
import { openImage } from '../phases/open-image.ts';
import { checkPlannedFile, protectedFiles, type TargetChecks, targetError } from '../phases/plan-targets.ts';
import { planConcurrency } from '../phases/write-images.ts';
import { type DiskLayout, layoutDisk, minimumDiskSize } from './layout.ts';
import type { InstallRequest } from './request.ts';
import { resolvePartition } from './resolve-devices.ts';
import { checkSupportedSections } from './unsupported.ts';

/** What run() needs beyond the printable plan. Kept off the plan so it prints cleanly. */
export interface InstallContext {
  /** The open image; undefined when the configuration takes no filesystem from one. */
  reader: CosiReader | undefined;
  /** Each disk's layout, in `plan.targets` order: its GPT is written last. */
  layouts: DiskLayout[];
  /** Files the run reads (the image, the Host Configuration): never a target. */
  protect: string[];
}

/**
 * Plans a clean install from a Host Configuration: validates it (schema and semantic rules, then the
 * cross-checks against the COSI), lays out every disk, and maps each filesystem to the bytes that
 * will hold it: image filesystems (matched by mount point) and their verity hash trees, new
 * filesystems, swap. A/B volume pairs receive volume A.
 */
export async function planInstall(
  request: InstallRequest,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<KindPlan<InstallRequest, InstallContext>> {
  const parsed = parseHostConfig(request.hostConfiguration.text);
  const file = request.hostConfiguration.path ?? 'host configuration';
  if (!parsed.ok || !parsed.config) {
    const errors = parsed.findings.filter((f) => f.severity === 'error');
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-host-configuration',
      `${formatFinding(errors[0]!, file)}${errors.length > 1 ? ` (and ${errors.length - 1} more; run 'trident validate ${file}')` : ''}`,
      { code: errors[0]!.code },
    );
  }
  const config = parsed.config;
  const warnings = checkSupportedSections(parsed.source?.value);
  // Trident's install also registers UEFI boot entries and regenerates bootloader configuration;
  // this engine writes storage only, and says so rather than leaving it unsaid.
  warnings.push(
    'bootloader: no UEFI boot entries are created and no bootloader configuration is regenerated; the firmware must boot the ESP as imaged (EFI/BOOT fallback path)',
  );
  const targetsRequested = config.storage.disks.map(
    (disk) => request.disks?.[disk.id] ?? ({ kind: 'disk', path: disk.device } as TargetRequest),
  );
  const onlyFiles = targetsRequested.every((t) => t.kind === 'image-file');
  const imageFilesystems = config.storage.filesystems.filter((fs) => (fs.source ?? 'image') === 'image');
  let reader: CosiReader | undefined;
  if (config.image) {
    // The Host Configuration spells the hash as bare hex; the hash-spec parser takes `sha384:<hex>`.
    const sha384 = config.image.sha384 === 'ignored' ? 'ignored' : formatSha384(config.image.sha384);
    ({ reader } = await openImage(config.image.url, sha384, {
      ...request,
      signal: options.signal,
      archCheck: !(onlyFiles && request.allowArchMismatch === true),
    }));
  } else if (imageFilesystems.length > 0) {
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-host-configuration',
      `${file}: filesystems come from an image but the configuration has no 'image' section`,
    );
  }
  try {
    if (reader) {
      const mismatches = checkImageCompatibility(config, imageFactsFromCosi(reader.metadata), {
        source: parsed.source,
      }).filter((f) => f.severity === 'error');
      if (mismatches.length > 0) {
        throw new EngineError(
          'INVALID_INPUT_ERROR',
          'host-configuration-image-mismatch',
          `${formatFinding(mismatches[0]!, file)}${mismatches.length > 1 ? ` (and ${mismatches.length - 1} more)` : ''}`,
          {
            code: mismatches[0]!.code,
          },
        );
      }
    }
    const arch = hostOsArch() === 'aarch64' ? 'arm64' : 'x64';
    const targets: PlannedTarget[] = [];
    const layouts: DiskLayout[] = [];
    const checks: TargetChecks = {
      metadataSha384: reader?.metadataSha384 ?? '',
      protect: protectedFiles(config.image?.url ?? '', request.hostConfiguration.path),
      resume: request.resume === true,
    };
    for (const [index, disk] of config.storage.disks.entries()) {
      const target = await planDiskTarget(disk, targetsRequested[index]!, checks);
      targets.push(target);
      const layout = layoutDisk(disk, target.size, target.sectorSize, arch);
      try {
        // The same checks writeGpt makes, now rather than after every image was written.
        planGpt(layout.gptRegion, { lbaSize: target.sectorSize, size: target.size, device: target.path });
      } catch (error) {
        throw wrapStep(
          'INVALID_INPUT_ERROR',
          'invalid-host-configuration',
          `disk '${disk.id}': its partition table cannot be written to ${target.path}`,
          error,
        );
      }
      layouts.push(layout);
    }
    const images = reader ? planImages(config, layouts, reader, request.resize !== false) : [];
    const newFilesystems = planNewFilesystems(config, layouts);
    const memory = planConcurrency(request, images, reader?.metadata.compression?.maxWindowLog);
    const plan: Plan & { request: InstallRequest } = {
      request,
      source: {
        url: config.image?.url ?? '',
        metadataSha384: reader?.metadataSha384 ?? '',
        cosiVersion: reader?.metadata.version ?? '',
        osArch: reader?.metadata.osArch ?? '',
        size: reader?.source.size ?? 0,
      },
      requiredSize: Math.max(0, ...targets.map((t) => t.requiredSize ?? 0)),
      lbaSize: targets[0]?.sectorSize === 4096 ? 4096 : 512,
      targets,
      images,
      newFilesystems,
      steps: describeSteps(targets, layouts, images, newFilesystems, config),
      warnings,
      concurrency: memory.concurrency,
      memory: memory.line,
    };
    return { plan, context: { reader, layouts, protect: checks.protect } };
  } catch (error) {
    await reader?.close();
    throw error;
  }
}

async function planDiskTarget(
  disk: Disk,
  request: TargetRequest,
  checks: TargetChecks,
): Promise<PlannedTarget> {
  if (request.kind === 'image-file') {
    const minimum = minimumDiskSize(disk, 512);
    if (request.size === undefined && disk.partitions.some((p) => p.size === 'grow')) {
      throw new EngineError(
        'INVALID_INPUT_ERROR',
        'invalid-target',
        `disk '${disk.id}' has a 'grow' partition: give the image file a size (--disk ${disk.id}=image:${request.path}:SIZE)`,
      );
    }
    const existing = await lstat(request.path).catch(() => undefined);
    if (existing && !existing.isFile() && !existing.isSymbolicLink())
      throw new EngineError(
        'INVALID_INPUT_ERROR',
        'invalid-target',
        `${request.path} exists and is not a regular file`,
      );
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
    return {
      kind: 'disk',
      path: selection.path,
      size: selection.size,
      sectorSize: selection.sectorSize,
      create: false,
      requiredSize,
    };
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

function planImages(
  config: HostConfiguration,
  layouts: DiskLayout[],
  reader: CosiReader,
  resize: boolean,
): PlannedImage[] {
  const images: PlannedImage[] = [];
  for (const fs of config.storage.filesystems) {
    if ((fs.source ?? 'image') !== 'image' || !fs.deviceId || !fs.mountPoint) continue;
    const mountPoint = normalizeMountPath(fs.mountPoint.path);
    const cosi = reader.metadata.images.find((image) => normalizeMountPath(image.mountPoint) === mountPoint);
    if (!cosi) continue; // checkImageCompatibility already refused a missing filesystem
    const verity = config.storage.verity.find((v) => v.id === fs.deviceId);
    const readOnly = fs.mountPoint.options.split(',').includes('ro');
    const place = (deviceId: string, file: typeof cosi.image, role: string, writable: boolean): void => {
      const { targetIndex, partition } = resolvePartition(config, layouts, deviceId);
      if (file.uncompressedSize > partition.length) {
        throw new EngineError(
          'INVALID_INPUT_ERROR',
          'filesystem-size-exceeds-block-device',
          `the image for ${mountPoint}${role} is ${file.uncompressedSize} bytes but '${deviceId}' has ${partition.length}`,
          { code: 'ENGINE_IMAGE_TOO_LARGE' },
        );
      }
      images.push({
        id: deviceId,
        targetIndex,
        partitionNumber: partition.number,
        imagePath: file.path,
        offset: partition.offset,
        length: partition.length,
        compressedSize: file.compressedSize,
        uncompressedSize: file.uncompressedSize,
        sha384: (file.sha384 ?? '').toLowerCase(),
        mountPoint: role === '' ? mountPoint : undefined,
        fsType: role === '' ? cosi.fsType : undefined,
        grow: shouldGrow({
          resize,
          fsType: cosi.fsType,
          imageSize: file.uncompressedSize,
          partitionSize: partition.length,
          writable,
        }),
      });
    };
    if (verity) {
      if (!cosi.verity) {
        throw new EngineError(
          'INVALID_INPUT_ERROR',
          'host-configuration-image-mismatch',
          `'${fs.deviceId}' is a verity device but the image has no verity data for ${mountPoint}`,
        );
      }
      place(verity.dataDeviceId, cosi.image, '', false);
      place(verity.hashDeviceId, cosi.verity.image, ' (verity hash tree)', false);
    } else {
      place(fs.deviceId, cosi.image, '', !readOnly);
    }
  }
  return images.sort((a, b) => a.targetIndex - b.targetIndex || a.offset - b.offset);
}

function planNewFilesystems(config: HostConfiguration, layouts: DiskLayout[]): PlannedNewFilesystem[] {
  const planned: PlannedNewFilesystem[] = [];
  for (const fs of config.storage.filesystems) {
    const source = fs.source ?? 'image';
    if (source === 'adopted') {
      throw new EngineError(
        'UNSUPPORTED_CONFIGURATION_ERROR',
        'unsupported-feature',
        `filesystem on '${fs.deviceId}' is adopted, but install repartitions its disk; adopted filesystems need adopted partitions, which are not supported`,
      );
    }
    if (source !== 'new' || !fs.deviceId) continue; // tmpfs/overlay have no device: nothing to write
    const type = fs.type ?? 'ext4';
    if (type !== 'ext4' && type !== 'xfs' && type !== 'vfat' && type !== 'ntfs') continue;
    const { targetIndex, partition } = resolvePartition(config, layouts, fs.deviceId);
    planned.push({
      id: fs.deviceId,
      targetIndex,
      fsType: type,
      offset: partition.offset,
      length: partition.length,
      mountPoint: fs.mountPoint?.path,
    });
  }
  for (const swap of config.storage.swap) {
    const { targetIndex, partition } = resolvePartition(config, layouts, swap.deviceId);
    planned.push({
      id: swap.deviceId,
      targetIndex,
      fsType: 'swap',
      offset: partition.offset,
      length: partition.length,
      mountPoint: undefined,
    });
  }
  return planned;
}

function describeSteps(
  targets: PlannedTarget[],
  layouts: DiskLayout[],
  images: PlannedImage[],
  created: PlannedNewFilesystem[],
  config: HostConfiguration,
): string[] {
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  const steps: string[] = [];
  targets.forEach((target, i) => {
    steps.push(
      target.kind === 'image-file'
        ? `create disk-image file ${target.path} (${mib(target.size)}, sparse)`
        : `open ${target.path} exclusively and run the safety checks`,
    );
    steps.push(`wipe old signatures on ${target.path}`);
    for (const p of layouts[i]!.partitions)
      steps.push(
        `  partition ${p.number} '${p.id}' (${p.label}): ${mib(p.length)} at byte ${p.offset}, type ${p.typeGuid}`,
      );
  });
  for (const image of images)
    steps.push(
      `write ${image.imagePath} to '${image.id}' (partition ${image.partitionNumber} of ${targets[image.targetIndex]!.path})${image.mountPoint ? ` [${image.fsType} ${image.mountPoint}]` : ''}, verify SHA-384`,
    );
  for (const fs of created)
    steps.push(`create ${fs.fsType} on '${fs.id}'${fs.mountPoint ? ` for ${fs.mountPoint}` : ''}`);
  for (const fs of config.storage.filesystems.filter(
    (f) => f.source === 'new' && (f.type === 'tmpfs' || f.type === 'overlay'),
  )) {
    steps.push(`${fs.type} at ${fs.mountPoint?.path}: created by the OS at boot, nothing to write`);
  }
  for (const target of targets) steps.push(`write the GPT on ${target.path} after every image verified`);
  for (const image of images.filter((i) => i.grow))
    steps.push(`grow the ${image.fsType} filesystem on '${image.id}' to fill its partition`);
  steps.push('sync');
  return steps;
}
