import { type CosiReader, formatSha384 } from '@trident/cosi-format';
import { checkImageCompatibility, formatFinding, type HostConfiguration } from '@trident/host-config';
import { EngineError } from '../../errors.ts';
import { hostOsArch } from '../../host-arch.ts';
import { imageFactsFromCosi } from '../../image-facts.ts';
import type { Plan, PlannedImage, PlannedNewFilesystem, PlannedTarget, TargetRequest } from '../../types.ts';
import { ALL_OPERATIONS } from '../allowed-operations.ts';
import { parseRequestConfiguration } from '../host/parse-config.ts';
import type { KindPlan } from '../kind.ts';
import { openImage } from '../phases/open-image.ts';
import { protectedFiles, type TargetChecks } from '../phases/plan-targets.ts';
import { planConcurrency } from '../phases/write-images.ts';
import type { DiskLayout } from './layout.ts';
import { planImages, planNewFilesystems } from './place-filesystems.ts';
import { planDiskTarget } from './plan-disk-target.ts';
import type { FinalizeContext } from './plan-finalize.ts';
import { checkStagingState, planFinalizeInstall, stagingDatastorePath } from './plan-finalize.ts';
import { layoutDisks } from './plan-layouts.ts';
import type { InstallRequest } from './request.ts';
import { checkStackedLayout, type StackedFilesystem, type StackedImage } from './storage/stacked-devices.ts';
import { checkSupportedSections } from './unsupported.ts';

/** What run() needs beyond the printable plan. Kept off the plan so it prints cleanly. */
export type InstallContext = StageContext | FinalizeContext;

/** An install that stages (and, unless `stageOnlyDatastore` is set, finalizes in the same run). */
export interface StageContext {
  phase: 'stage';
  /** The open image; undefined when the configuration takes no filesystem from one. */
  reader: CosiReader | undefined;
  /** Each disk's layout, in `plan.targets` order: its GPT is written last. */
  layouts: DiskLayout[];
  /** Files the run reads (the image, the Host Configuration): never a target. */
  protect: string[];
  /** The validated Host Configuration, and the document as written (the datastore's `spec`). */
  config: HostConfiguration;
  spec: Record<string, unknown>;
  /** Images and new filesystems on RAID arrays or encrypted volumes: written once those exist. */
  stackedImages: StackedImage[];
  stackedFilesystems: StackedFilesystem[];
  /** Set for a stage-only install: the servicing OS's datastore that records the staged host. */
  stageOnlyDatastore: string | undefined;
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
  const operations = request.allowedOperations ?? ALL_OPERATIONS;
  if (!operations.stage && !operations.finalize)
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-allowed-operations',
      'install was allowed neither stage nor finalize: nothing to do (--allowed-operations stage, finalize or stage,finalize)',
      { code: 'ENGINE_ALLOWED_OPERATIONS_EMPTY' },
    );
  if (!operations.stage) return planFinalizeInstall(request);
  const hostConfiguration = request.hostConfiguration;
  if (hostConfiguration === undefined)
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-host-configuration',
      'staging a clean install needs a Host Configuration; only a finalize-only install takes the staged one',
      { code: 'ENGINE_HOST_CONFIGURATION_MISSING' },
    );
  const stageOnlyDatastore = operations.finalize ? undefined : stagingDatastorePath(request);
  if (stageOnlyDatastore !== undefined) checkStagingState(stageOnlyDatastore);
  const { config, parsed, spec, file } = parseRequestConfiguration(hostConfiguration);
  const warnings = checkSupportedSections(parsed.source?.value);
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
    const checks: TargetChecks = {
      metadataSha384: reader?.metadataSha384 ?? '',
      protect: protectedFiles(config.image?.url ?? '', hostConfiguration.path),
      resume: request.resume === true,
    };
    for (const [index, disk] of config.storage.disks.entries())
      targets.push(await planDiskTarget(disk, targetsRequested[index]!, checks));
    const layouts = await layoutDisks(config, targets, arch);
    checkStackedLayout(config, new Set(layouts.flatMap((l) => l.partitions.map((p) => p.id))));
    const placed = reader
      ? planImages(config, layouts, reader, request.resize !== false)
      : { images: [], stacked: [] };
    const images = placed.images;
    const created = planNewFilesystems(config, layouts);
    const newFilesystems = created.planned;
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
      steps: describeSteps(
        targets,
        layouts,
        images,
        newFilesystems,
        config,
        stageOnlyDatastore,
        placed.stacked,
        created.stacked,
      ),
      warnings,
      concurrency: memory.concurrency,
      memory: memory.line,
    };
    return {
      plan,
      context: {
        phase: 'stage',
        reader,
        layouts,
        protect: checks.protect,
        config,
        spec,
        stageOnlyDatastore,
        stackedImages: placed.stacked,
        stackedFilesystems: created.stacked,
      },
    };
  } catch (error) {
    await reader?.close();
    throw error;
  }
}

function describeSteps(
  targets: PlannedTarget[],
  layouts: DiskLayout[],
  images: PlannedImage[],
  created: PlannedNewFilesystem[],
  config: HostConfiguration,
  stageOnlyDatastore: string | undefined,
  stackedImages: StackedImage[],
  stackedFilesystems: StackedFilesystem[],
): string[] {
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  const steps: string[] = [];
  targets.forEach((target, i) => {
    steps.push(
      target.kind === 'image-file'
        ? `create disk-image file ${target.path} (${mib(target.size)}, sparse)`
        : `open ${target.path} exclusively and run the safety checks`,
    );
    const kept = layouts[i]!.kept;
    if (kept === undefined) steps.push(`wipe old signatures on ${target.path}`);
    else {
      for (const p of kept.removed)
        steps.push(
          `remove partition ${p.number} (${p.name || 'no name'}, ${p.uuid}) from ${target.path}: not adopted`,
        );
      steps.push(
        `wipe old signatures on ${target.path} outside the adopted partitions, and write a table holding only them`,
      );
    }
    for (const p of layouts[i]!.partitions)
      steps.push(
        p.adopted
          ? `  partition ${p.number} '${p.id}' (${p.label}): adopted, kept as it is: ${mib(p.length)} at byte ${p.offset}, GUID ${p.uuid}`
          : `  partition ${p.number} '${p.id}' (${p.label}): ${mib(p.length)} at byte ${p.offset}, type ${p.typeGuid}`,
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
  steps.push(...stackedSteps(config, stackedImages, stackedFilesystems));
  steps.push(...hostSteps(config, stageOnlyDatastore));
  steps.push('sync');
  return steps;
}

/** RAID arrays, LUKS2 volumes and what goes onto them, in run order (storage/stacked-storage.ts). */
function stackedSteps(
  config: HostConfiguration,
  images: StackedImage[],
  filesystems: StackedFilesystem[],
): string[] {
  const steps: string[] = [];
  for (const array of config.storage.raid.software)
    steps.push(
      `create RAID array /dev/md/${array.name} (${array.level}, metadata 1.0) from ${array.devices.map((d) => `'${d}'`).join(', ')}${config.storage.raid.syncTimeout === undefined ? '' : `, wait up to ${config.storage.raid.syncTimeout} s for its sync`}`,
    );
  const encryption = config.storage.encryption;
  for (const volume of encryption?.volumes ?? [])
    steps.push(
      `encrypt '${volume.deviceId}' with LUKS2 (key ${encryption?.recoveryKeyUrl ? `from ${encryption.recoveryKeyUrl}` : 'random, TPM only'}; TPM 2.0 sealed to PCRs ${encryption?.pcrs.join('+')} when present) and open it as /dev/mapper/${volume.deviceName}`,
    );
  for (const image of images)
    steps.push(
      `write ${image.imagePath} to ${image.device.path} ('${image.id}')${image.mountPoint ? ` [${image.fsType} ${image.mountPoint}]` : ''}, verify SHA-384${image.grow ? ', grow to fill it' : ''}`,
    );
  for (const fs of filesystems)
    steps.push(
      `create ${fs.fsType} on ${fs.device.path} ('${fs.id}')${fs.mountPoint ? ` for ${fs.mountPoint}` : ''}`,
    );
  return steps;
}

/** What configuring the host will do, in run order (host/configure-host.ts). */
function hostSteps(config: HostConfiguration, stageOnlyDatastore: string | undefined): string[] {
  const steps = ['mount the new root (volume A) with its filesystems'];
  const os = config.os;
  const configured = [
    'fstab',
    os.netplan ? 'netplan' : '',
    os.users.length > 0 ? `users (${os.users.map((u) => u.name).join(', ')})` : '',
    os.hostname ? `hostname ${os.hostname}` : '',
    os.services.enable.length + os.services.disable.length > 0 ? 'services' : '',
    os.modules.length > 0 ? 'modules' : '',
    os.selinux.mode ? `SELinux ${os.selinux.mode}` : '',
    os.additionalFiles.length > 0 ? `${os.additionalFiles.length} additional file(s)` : '',
  ].filter(Boolean);
  steps.push(`configure the OS in the new root: ${configured.join(', ')}`);
  const scripts = config.scripts;
  const count = (list: readonly unknown[]) => list.length;
  if (count(scripts.preServicing) + count(scripts.postProvision) + count(scripts.postConfigure) > 0)
    steps.push(
      `scripts: ${count(scripts.preServicing)} preServicing (before any write), ${count(scripts.postProvision)} postProvision, ${count(scripts.postConfigure)} postConfigure (those whose runOn includes clean-install)`,
    );
  steps.push("configure the image's bootloader for the new partitions (kernel command line, entries)");
  if (stageOnlyDatastore !== undefined) {
    steps.push(`record clean-install-staged in ${stageOnlyDatastore} (the servicing OS's datastore)`);
    steps.push('unmount the new root; finalize later with --allowed-operations finalize');
    return steps;
  }
  steps.push(`record the Host Status in ${config.trident.datastorePath} of the new root`);
  steps.push('unmount the new root; create a UEFI boot entry when the ESP is on a disk of a UEFI host');
  return steps;
}
