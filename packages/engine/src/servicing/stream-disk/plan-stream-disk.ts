import { isBlockWriterError, planGpt, selectDisk } from '@trident/block-writer';
import { type CosiReader, ESP_TYPE_GUID, type Gpt, partitionSize } from '@trident/cosi-format';
import { EngineError, wrapStep } from '../../errors.ts';
import type { Plan, PlannedImage, PlannedTarget } from '../../types.ts';
import type { KindPlan } from '../kind.ts';
import { shouldGrow } from '../phases/grow.ts';
import { openImage } from '../phases/open-image.ts';
import {
  checkPlannedFile,
  plannedDisk,
  protectedFiles,
  type TargetChecks,
  targetError,
} from '../phases/plan-targets.ts';
import type { TargetLayout } from '../phases/targets.ts';
import { planConcurrency } from '../phases/write-images.ts';
import type { StreamDiskRequest } from './request.ts';

/** What run() needs beyond the printable plan. Kept off the plan so it prints cleanly. */
export interface StreamDiskContext {
  reader: CosiReader;
  /** The image's own GPT, written last with the image's LBA size. */
  layout: TargetLayout;
  /** Files the run reads: never its target. */
  protect: string[];
}

/**
 * Works out everything stream-disk will do, without writing anything: loads and checks the image,
 * derives the layout from its GPT (COSI ≥ 1.2), picks the target, and lists the steps.
 */
export async function planStreamDisk(
  request: StreamDiskRequest,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<KindPlan<StreamDiskRequest, StreamDiskContext>> {
  const target = request.target ?? { kind: 'auto' };
  const { reader, report } = await openImage(request.url, request.sha384, {
    ...request,
    signal: options.signal,
    archCheck: !(target.kind === 'image-file' && request.allowArchMismatch === true),
  });
  try {
    const { metadata } = reader;
    const disk = metadata.disk;
    if (!disk || !metadata.version.match(/^\+?1\.\+?([2-9]|\d\d+)$/u)) {
      throw new EngineError(
        'INVALID_INPUT_ERROR',
        'derive-host-configuration',
        `Streaming requires a COSI v1.2 or newer image with disk information; '${request.url}' is COSI ${metadata.version}${disk ? '' : ' without disk metadata'}`,
        { code: 'ENGINE_COSI_TOO_OLD' },
      );
    }
    let gpt: Gpt;
    let gptRegion: Uint8Array;
    try {
      gpt = await reader.gpt(options.signal ? { signal: options.signal } : {});
      gptRegion = await reader.gptRegionBytes();
    } catch (error) {
      throw wrapStep(
        'INVALID_INPUT_ERROR',
        'derive-host-configuration',
        'Failed to derive the disk layout from the COSI GPT',
        error,
      );
    }
    const images = deriveImages(reader, gpt, request.resize !== false);
    checkDerivable(reader, gpt);
    // Before the target is looked at: an image whose window cannot fit is refused first.
    const memory = planConcurrency(request, images, metadata.compression?.maxWindowLog);
    const checks: TargetChecks = {
      metadataSha384: reader.metadataSha384,
      protect: protectedFiles(request.url),
      resume: request.resume === true,
    };
    const targets = [await planTarget(target, disk.size, gpt.lbaSize, checks)];
    checkGptFits(gptRegion, gpt.lbaSize, targets[0]!);
    const plan: Plan & { request: StreamDiskRequest } = {
      request,
      source: {
        url: request.url,
        metadataSha384: reader.metadataSha384,
        cosiVersion: metadata.version,
        osArch: metadata.osArch,
        size: reader.source.size,
      },
      requiredSize: disk.size,
      lbaSize: gpt.lbaSize,
      targets,
      images,
      newFilesystems: [],
      steps: describeSteps(targets[0]!, images, gpt, request),
      warnings: report.warnings.map((w) => `${w.code} at ${w.path}: ${w.message}`),
      concurrency: memory.concurrency,
      memory: memory.line,
    };
    const layout = { gptRegion, lbaSize: gpt.lbaSize, partitionCount: gpt.partitions.length };
    return { plan, context: { reader, layout, protect: checks.protect } };
  } catch (error) {
    await reader.close();
    throw error;
  }
}

function deriveImages(reader: CosiReader, gpt: Gpt, resize: boolean): PlannedImage[] {
  const { metadata } = reader;
  const verityPaths = new Set(
    metadata.images.flatMap((fs) => (fs.verity ? [fs.verity.image.path, fs.image.path] : [])),
  );
  const images: PlannedImage[] = [];
  let index = 0;
  // Trident names derived partitions partition-1..N in GPT number order, whatever the numbers are.
  const regions = (metadata.disk?.gptRegions ?? [])
    .filter((r) => r.type === 'partition')
    .sort((a, b) => (a.number ?? 0) - (b.number ?? 0));
  for (const region of regions) {
    index++;
    const partition = gpt.partitions.find((p) => p.number === region.number);
    if (!partition) continue; // validation already refused this
    const fs = metadata.images.find((image) => image.image.path === region.image.path);
    const length = partitionSize(partition, gpt.lbaSize);
    images.push({
      id: `partition-${index}`,
      targetIndex: 0,
      partitionNumber: partition.number,
      imagePath: region.image.path,
      offset: partition.firstLba * gpt.lbaSize,
      length,
      compressedSize: region.image.compressedSize,
      uncompressedSize: region.image.uncompressedSize,
      sha384: (region.image.sha384 ?? '').toLowerCase(),
      mountPoint: fs?.mountPoint,
      fsType: fs?.fsType,
      grow: shouldGrow({
        resize,
        fsType: fs?.fsType,
        imageSize: region.image.uncompressedSize,
        partitionSize: length,
        // dm-verity data and hash trees must keep their exact bytes.
        writable: !verityPaths.has(region.image.path),
      }),
    });
  }
  // Physical order: sequential writes along the disk are kinder to spinning and thin-provisioned media.
  return images.sort((a, b) => a.offset - b.offset);
}

/** Trident's derivation refuses images it could not boot: no ESP with a mount point, verity off / and /usr. */
function checkDerivable(reader: CosiReader, gpt: Gpt): void {
  const { metadata } = reader;
  const regionOf = (path: string) =>
    metadata.disk?.gptRegions?.find((r) => r.type === 'partition' && r.image.path === path);
  const hasEsp = metadata.images.some((fs) => {
    const partition = gpt.partitions.find((p) => p.number === regionOf(fs.image.path)?.number);
    return partition?.typeGuid === ESP_TYPE_GUID && fs.mountPoint !== '';
  });
  if (!hasEsp) {
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'derive-host-configuration',
      'No ESP filesystem with a mount point was found in the COSI: the written disk could not boot',
      { code: 'ENGINE_NO_ESP' },
    );
  }
  for (const fs of metadata.images) {
    if (fs.verity && fs.mountPoint !== '/' && fs.mountPoint !== '/usr') {
      throw new EngineError(
        'INVALID_INPUT_ERROR',
        'derive-host-configuration',
        `dm-verity at path '${fs.mountPoint}' is currently unsupported: only / and /usr can be verity-protected`,
        { code: 'ENGINE_VERITY_MOUNT_POINT' },
      );
    }
  }
}

/**
 * The GPT is written last, after every image: a table the write would refuse (FirstUsableLBA inside
 * the entry array, a partition over the backup GPT, ...) must fail the plan, not a run that has
 * already wiped the target and written every image.
 */
function checkGptFits(region: Uint8Array, lbaSize: number, target: PlannedTarget): void {
  try {
    planGpt(region, { lbaSize, size: target.size, device: target.path });
  } catch (error) {
    throw wrapStep(
      'INVALID_INPUT_ERROR',
      'derive-host-configuration',
      `The COSI's GPT cannot be written to ${target.path}`,
      error,
    );
  }
}

async function planTarget(
  target: NonNullable<StreamDiskRequest['target']>,
  requiredSize: number,
  lbaSize: number,
  checks: TargetChecks,
): Promise<PlannedTarget> {
  if (target.kind === 'image-file') {
    const size = Math.max(target.size ?? 0, requiredSize);
    if (size % lbaSize !== 0) {
      throw new EngineError(
        'INVALID_INPUT_ERROR',
        'invalid-target',
        `target size ${size} is not a multiple of the ${lbaSize}-byte sector size`,
        {
          code: 'ENGINE_TARGET_SIZE',
        },
      );
    }
    const replace = target.overwrite === true;
    await checkPlannedFile({ path: target.path, size, sectorSize: lbaSize, replace }, checks, {
      requiredSize,
      lbaSize,
    });
    return { kind: 'image-file', path: target.path, size, sectorSize: lbaSize, create: true, replace };
  }
  try {
    const selection = await selectDisk({
      requiredSize,
      lbaSize,
      protect: checks.protect,
      ...(target.kind === 'disk' ? { disk: target.path } : {}),
    });
    return plannedDisk(selection, { listConsidered: true });
  } catch (error) {
    if (isBlockWriterError(error) && error.code === 'BLOCK_NO_SUITABLE_DISK') {
      throw new EngineError('UNSUPPORTED_CONFIGURATION_ERROR', 'no-suitable-disk', error.message, {
        cause: error,
      });
    }
    throw targetError('The target disk cannot be written', error);
  }
}

function describeSteps(
  target: PlannedTarget,
  images: PlannedImage[],
  gpt: Gpt,
  request: StreamDiskRequest,
): string[] {
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  const steps = [
    target.kind === 'image-file'
      ? `create disk-image file ${target.path} (${mib(target.size)}, sparse)`
      : `open ${target.path} exclusively (${mib(target.size)}) and run the safety checks`,
    'wipe partition-table and filesystem signatures at the start and end of the target',
  ];
  for (const image of images) {
    steps.push(
      `write ${image.imagePath} (${mib(image.compressedSize)} compressed, ${mib(image.uncompressedSize)}) to partition ${image.partitionNumber} at byte ${image.offset}, verify SHA-384${image.mountPoint ? ` [${image.fsType} ${image.mountPoint}]` : ''}`,
    );
  }
  steps.push(
    `write the GPT (${gpt.partitions.length} partitions, disk GUID ${gpt.header.diskGuid}) with headers for the target size`,
  );
  if (target.kind === 'disk') steps.push('ask the kernel to re-read the partition table');
  for (const image of images.filter((i) => i.grow))
    steps.push(`grow the ${image.fsType} filesystem on partition ${image.partitionNumber} to fill it`);
  if (request.resize === false) steps.push('keep every partition exactly as imaged (--no-resize)');
  steps.push('sync');
  return steps;
}
