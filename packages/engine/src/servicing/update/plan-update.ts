/**
 * Plans an update of a provisioned host (upstream `Trident::update`, `engine/update.rs`,
 * `engine/ab_update.rs`; reference servicing.md §7), writing nothing: the entry checks (a persistent
 * datastore, a servicing state an update may start from, the same OS family in the COSI, storage
 * unchanged), what to do (A/B update, runtime update, nothing; stage and/or finalize), which volume
 * runs and which is written, and every image placed on the update volume's partition.
 */
import { readFile, realpath } from 'node:fs/promises';
import { describePartition } from '@trident/block-writer';
import { type CosiReader, ESP_TYPE_GUID, formatSha384 } from '@trident/cosi-format';
import {
  type AbVolume,
  type HostStatus,
  openDatastore,
  resolveDatastorePath,
  type ServicingState,
} from '@trident/datastore';
import { runTool } from '@trident/exec';
import {
  checkImageCompatibility,
  formatFinding,
  type HostConfiguration,
  normalizeMountPath,
} from '@trident/host-config';
import { EngineError } from '../../errors.ts';
import { imageFactsFromCosi } from '../../image-facts.ts';
import type { Plan, PlannedImage, PlannedTarget } from '../../types.ts';
import { ALL_OPERATIONS, type AllowedOperations, formatAllowedOperations } from '../allowed-operations.ts';
import { type BootKind, bootKind } from '../host/configure-os.ts';
import { parseRecordedConfiguration, parseRequestConfiguration } from '../host/parse-config.ts';
import type { KindPlan } from '../kind.ts';
import { shouldGrow } from '../phases/grow.ts';
import { openImage } from '../phases/open-image.ts';
import { protectedFiles } from '../phases/plan-targets.ts';
import { planConcurrency } from '../phases/write-images.ts';
import { type ActiveVolume, findActiveVolume, memberOn } from './active-volume.ts';
import type { UpdateRequest } from './request.ts';
import {
  checkStorageUnchanged,
  type ServicingSelection,
  sameConfiguration,
  selectServicingType,
} from './select-servicing.ts';
import { bootFilesystem, checkDistinctBootFilesystem, rootFilesystem } from './update-grub.ts';

/**
 * What the run does: stage an A/B update (and maybe finalize), finalize a staged one, a runtime
 * update (`runtime`: stage and maybe finalize; `runtime-finalize-only`: the staged one), or nothing.
 */
export type UpdateMode = 'stage' | 'finalize-only' | 'runtime' | 'runtime-finalize-only' | 'nothing';

/** Modes that write the inactive volume or switch the boot to it. */
const AB_MODES: readonly UpdateMode[] = ['stage', 'finalize-only'];

/** Where one image goes on this host: a partition of the update volume, by its device node. */
export interface UpdatePartition {
  /** The partition node (`/dev/vda3`), canonical. */
  device: string;
  /** The whole disk and where the partition lies on it (for growing its filesystem). */
  disk: string;
  number: number;
  start: number;
  size: number;
}

export interface UpdateContext {
  reader: CosiReader | undefined;
  config: HostConfiguration;
  /** The new Host Configuration as written: the Host Status `spec` once staged. */
  spec: Record<string, unknown>;
  datastorePath: string;
  mode: UpdateMode;
  allowed: AllowedOperations;
  /** The state the run starts from (a staged update with another spec is abandoned first). */
  state: ServicingState;
  volumes: ActiveVolume | undefined;
  /** One per `plan.targets` entry. */
  partitions: UpdatePartition[];
  /** Canonical device of every recorded Host Configuration id (`partitionPaths`, resolved). */
  devices: Record<string, string>;
  /** PARTUUID of every recorded partition id (from `/dev/disk/by-partuuid/<uuid>` paths). */
  partitionUuids: Record<string, string>;
  /** The Host Configuration id of the ESP partition, and its node on this host, when there is one. */
  espId: string | undefined;
  espDevice: string | undefined;
  /** The COSI's ESP image (its boot entry and kernel are copied for the update volume). */
  espImage: PlannedImage | undefined;
  /** The image's boot flavour; undefined without an image (finalize-only reads what stage left on the ESP). */
  boot: BootKind | undefined;
  installIndex: number;
  protect: string[];
}

/** States an update may start from (upstream `Trident::update` and `engine::update`). */
const UPDATABLE: readonly ServicingState[] = [
  'provisioned',
  'ab-update-staged',
  'ab-update-finalized',
  'runtime-update-staged',
];

function openStatus(datastorePath: string): HostStatus {
  let store: ReturnType<typeof openDatastore>;
  try {
    store = openDatastore(datastorePath, { readOnly: true });
  } catch (error) {
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'host-not-provisioned',
      `no Host Status to update: cannot open the datastore ${datastorePath} (install the host first)`,
      { cause: error, code: 'ENGINE_HOST_NOT_PROVISIONED' },
    );
  }
  try {
    // Not `isTemporary()`: install writes the installed host's datastore directly, and its rows keep
    // the management-OS mark until the first update; the state says whether the host is provisioned.
    const status = store.current();
    if (status.servicingState === 'not-provisioned')
      throw new EngineError(
        'INVALID_INPUT_ERROR',
        'host-not-provisioned',
        `the datastore ${datastorePath} records no provisioned host (servicing state not-provisioned): install it first`,
        { code: 'ENGINE_HOST_NOT_PROVISIONED' },
      );
    return status;
  } finally {
    store.close();
  }
}

/** The Host Configuration the host was provisioned with, read by schema only (as commit reads it). */
function recordedConfiguration(spec: Record<string, unknown> | undefined, what: string): HostConfiguration {
  return parseRecordedConfiguration(spec, { what, code: 'ENGINE_UPDATE_BAD_SPEC' });
}

function osReleaseFields(text: string): { id: string | undefined; variant: string | undefined } {
  const field = (key: string) => {
    const match = new RegExp(`^${key}=("?)([^"\\n]*)\\1\\s*$`, 'mu').exec(text);
    return match?.[2];
  };
  return { id: field('ID'), variant: field('VARIANT_ID') };
}

/** Upstream: host and COSI must agree on os-release `ID` and `VARIANT_ID` (`mismatched-os-release`). */
async function checkOsRelease(reader: CosiReader, osReleasePath: string | undefined): Promise<void> {
  const candidates = osReleasePath ? [osReleasePath] : ['/etc/os-release', '/usr/lib/os-release'];
  let text: string | undefined;
  for (const path of candidates) {
    text = await readFile(path, 'utf8').catch(() => undefined);
    if (text !== undefined) break;
  }
  if (text === undefined)
    throw new EngineError(
      'SERVICING_ERROR',
      'mismatched-os-release',
      `cannot read this host's os-release (${candidates.join(', ')}) to compare it with the image's`,
      { code: 'ENGINE_UPDATE_OS_RELEASE' },
    );
  const host = osReleaseFields(text);
  const image = osReleaseFields(reader.metadata.osRelease);
  if (host.id !== image.id || host.variant !== image.variant)
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'mismatched-os-release',
      `the image is ID=${image.id ?? '(none)'} VARIANT_ID=${image.variant ?? '(none)'} but this host runs ID=${host.id ?? '(none)'} VARIANT_ID=${host.variant ?? '(none)'}: an update keeps the OS family (a clean install can change it)`,
      { code: 'ENGINE_UPDATE_OS_RELEASE' },
    );
}

async function partUuidOf(device: string): Promise<string | undefined> {
  const result = await runTool('blkid', ['-p', '-s', 'PART_ENTRY_UUID', '-o', 'value', device], {
    okCodes: 'any',
  }).catch(() => undefined);
  const value = result?.exitCode === 0 ? result.stdout.trim() : '';
  return /^[0-9a-fA-F-]{36}$/u.test(value) ? value : undefined;
}

async function resolveDevices(status: HostStatus): Promise<{
  devices: Record<string, string>;
  partitionUuids: Record<string, string>;
}> {
  const devices: Record<string, string> = {};
  const partitionUuids: Record<string, string> = {};
  for (const [id, path] of Object.entries(status.partitionPaths ?? {})) {
    const device = await realpath(path).catch(() => undefined);
    if (device !== undefined) devices[id] = device;
    // Install records `/dev/disk/by-partuuid/<uuid>`; a path recorded otherwise (no udev) is asked.
    const uuid =
      /\/by-partuuid\/([0-9a-fA-F-]{36})$/u.exec(path)?.[1] ?? (device && (await partUuidOf(device)));
    if (uuid) partitionUuids[id] = uuid.toLowerCase();
  }
  return { devices, partitionUuids };
}

function deviceFor(context: Pick<UpdateContext, 'devices'>, status: HostStatus, id: string): string {
  const device = context.devices[id];
  if (device !== undefined) return device;
  const recorded = status.partitionPaths?.[id];
  throw new EngineError(
    'UNSUPPORTED_CONFIGURATION_ERROR',
    'partitions-removed',
    recorded === undefined
      ? `the Host Status records no partition for '${id}': it was not laid out at install`
      : `partition '${id}' (${recorded}) no longer exists on this host`,
    { code: 'ENGINE_UPDATE_PARTITION_MISSING' },
  );
}

interface PlacedImages {
  targets: PlannedTarget[];
  images: PlannedImage[];
  partitions: UpdatePartition[];
  skipped: string[];
}

/**
 * The COSI's filesystems on the update volume: only those on A/B pairs (upstream streams nothing
 * else on an update), verity data and hash trees both, each on its own partition target.
 */
async function placeImages(
  config: HostConfiguration,
  status: HostStatus,
  reader: CosiReader,
  target: AbVolume,
  devices: Record<string, string>,
  resize: boolean,
): Promise<PlacedImages> {
  const isPair = (id: string) => config.storage.abUpdate?.volumePairs.some((p) => p.id === id) === true;
  const placed: PlacedImages = { targets: [], images: [], partitions: [], skipped: [] };
  for (const fs of config.storage.filesystems) {
    if ((fs.source ?? 'image') !== 'image' || !fs.deviceId || !fs.mountPoint) continue;
    const mountPoint = normalizeMountPath(fs.mountPoint.path);
    const cosi = reader.metadata.images.find((image) => normalizeMountPath(image.mountPoint) === mountPoint);
    if (!cosi) continue; // checkImageCompatibility refused a missing filesystem
    const verity = config.storage.verity.find((v) => v.id === fs.deviceId);
    const ids = verity ? [verity.dataDeviceId, verity.hashDeviceId] : [fs.deviceId];
    if (!ids.every(isPair)) {
      placed.skipped.push(`${mountPoint} ('${fs.deviceId}') is not on an A/B volume pair: left as it is`);
      continue;
    }
    const readOnly = fs.mountPoint.options.split(',').includes('ro');
    const files = verity ? [cosi.image, cosi.verity?.image] : [cosi.image];
    for (const [index, id] of ids.entries()) {
      const file = files[index];
      if (file === undefined)
        throw new EngineError(
          'INVALID_INPUT_ERROR',
          'host-configuration-image-mismatch',
          `'${fs.deviceId}' is a verity device but the image has no verity data for ${mountPoint}`,
        );
      const member = memberOn(config, id, target);
      const device = deviceFor({ devices }, status, member);
      const partition = await describePartition(device);
      const role = index === 0 ? '' : ' (verity hash tree)';
      if (file.uncompressedSize > partition.size)
        throw new EngineError(
          'INVALID_INPUT_ERROR',
          'filesystem-size-exceeds-block-device',
          `the image for ${mountPoint}${role} is ${file.uncompressedSize} bytes but '${member}' (${device}) has ${partition.size}`,
          { code: 'ENGINE_IMAGE_TOO_LARGE' },
        );
      placed.partitions.push({ device, ...partition });
      placed.targets.push({
        kind: 'disk',
        path: device,
        size: partition.size,
        sectorSize: partition.sectorSize,
        create: false,
        requiredSize: file.uncompressedSize,
      });
      placed.images.push({
        id: member,
        targetIndex: placed.targets.length - 1,
        partitionNumber: partition.number,
        imagePath: file.path,
        offset: 0,
        length: partition.size,
        compressedSize: file.compressedSize,
        uncompressedSize: file.uncompressedSize,
        sha384: (file.sha384 ?? '').toLowerCase(),
        mountPoint: index === 0 ? mountPoint : undefined,
        fsType: index === 0 ? cosi.fsType : undefined,
        grow: shouldGrow({
          resize,
          fsType: cosi.fsType,
          imageSize: file.uncompressedSize,
          partitionSize: partition.size,
          writable: !verity && !readOnly && index === 0,
        }),
      });
    }
  }
  return placed;
}

/** The COSI's ESP filesystem, extracted at stage for its boot entry and kernel. */
function espImageOf(reader: CosiReader): PlannedImage | undefined {
  const esp = reader.metadata.images.find(
    (image) => image.partType.toLowerCase() === ESP_TYPE_GUID || image.partType.toLowerCase() === 'esp',
  );
  if (esp === undefined) return undefined;
  return {
    id: 'esp-image',
    targetIndex: -1,
    partitionNumber: 0,
    imagePath: esp.image.path,
    offset: 0,
    length: esp.image.uncompressedSize,
    compressedSize: esp.image.compressedSize,
    uncompressedSize: esp.image.uncompressedSize,
    sha384: (esp.image.sha384 ?? '').toLowerCase(),
    mountPoint: normalizeMountPath(esp.mountPoint),
    fsType: esp.fsType,
    grow: false,
  };
}

function espPartitionId(config: HostConfiguration): string | undefined {
  for (const disk of config.storage.disks)
    for (const partition of disk.partitions) if (partition.type === 'esp') return partition.id;
  return undefined;
}

function refuseBootKind(kind: BootKind | undefined): void {
  if (kind !== undefined) return;
  throw new EngineError(
    'UNSUPPORTED_CONFIGURATION_ERROR',
    'unsupported-feature',
    'the image declares no bootloader: an A/B update cannot point the next boot at the updated volume',
    { code: 'ENGINE_UPDATE_BOOTLOADER_UNSUPPORTED' },
  );
}

function describe(
  mode: UpdateMode,
  selection: ServicingSelection | undefined,
  volumes: ActiveVolume | undefined,
  images: PlannedImage[],
  partitions: UpdatePartition[],
  skipped: string[],
  allowed: AllowedOperations,
  state: ServicingState,
  boot: BootKind | undefined,
): string[] {
  const steps: string[] = [];
  if (mode === 'nothing') return steps;
  if (mode === 'runtime' || mode === 'runtime-finalize-only') {
    if (mode === 'runtime') {
      steps.push(`Servicing type: runtime update (${selection?.reasons.join('; ') ?? ''})`);
      if (state === 'ab-update-staged' || state === 'runtime-update-staged')
        steps.push(`Abandon the update staged earlier (${state}) with another configuration`);
      steps.push(
        'Download new sysext/confext images into /var/lib/extensions/.staging (SHA-384 checked) and read their extension-release; record runtime-update-staged',
      );
    }
    if (allowed.finalize || mode === 'runtime-finalize-only')
      steps.push(
        'Apply netplan, move images into place (dropped ones out), systemd-sysext/confext refresh, runtime-update health checks; record provisioned (any failure re-applies the current configuration)',
      );
    else steps.push(`Finalize not allowed (--allowed-operations ${formatAllowedOperations(allowed)})`);
    return steps;
  }
  if (selection !== undefined) steps.push(`Servicing type: A/B update (${selection.reasons.join('; ')})`);
  if (volumes !== undefined)
    steps.push(`Running ${volumes.active} (/ is ${volumes.rootDevice}); updating ${volumes.target}`);
  if (mode === 'stage') {
    if (state === 'ab-update-staged' || state === 'runtime-update-staged')
      steps.push(`Abandon the update staged earlier (${state}) with another configuration`);
    steps.push('Run preServicing scripts');
    for (const [index, image] of images.entries())
      steps.push(
        `Write ${image.imagePath} (${image.uncompressedSize} bytes) to '${image.id}' (${partitions[index]!.device})${image.grow ? ', then grow its filesystem' : ''}`,
      );
    steps.push(...skipped);
    steps.push(`Mount the new root of ${volumes?.target}; apply the OS configuration (ab-update)`);
    if (boot === 'grub')
      steps.push(
        `Point the ${volumes?.target} grub.cfg at its partitions; copy the image's shim, grub and ESP grub.cfg (its search set to the ${volumes?.target} /boot filesystem) into the ESP directory of ${volumes?.target} (the running one is kept)`,
      );
    else if (boot === 'uki')
      steps.push(
        `Check the image's UKI embeds a root that is ${volumes?.target}'s (none: gpt-auto; its PARTUUID; or root=UUID= of the root image); remove the ${volumes?.target} UKIs it replaces from the ESP's EFI/Linux (never the running one) and stage it as EFI/Linux/vmlinuz-0.efi.staged`,
      );
    else steps.push(`Write the ${volumes?.target} systemd-boot entry on the ESP (the running entry is kept)`);
    steps.push('Record ab-update-staged (spec: the new configuration, specOld: the current one)');
  }
  if (allowed.finalize) {
    steps.push(
      boot === 'grub'
        ? `Record ab-update-finalized; a UEFI boot entry for the ${volumes?.target} ESP directory, made BootNext (one trial boot) and put last in BootOrder`
        : boot === 'uki'
          ? `Pin LoaderEntryDefault to the running entry when unset; rename the staged UKI EFI/Linux/vmlinuz-<N>-<slot>.efi (${volumes?.target === 'volume-a' ? 'azla0' : 'azlb0'} on install index 0); record ab-update-finalized; LoaderEntryOneShot = that UKI (one trial boot)`
          : boot === undefined
            ? `Record ab-update-finalized; LoaderEntryOneShot = the ${volumes?.target} entry or staged UKI, or for a staged grub ESP directory its UEFI entry as BootNext (one trial boot)`
            : `Record ab-update-finalized; LoaderEntryOneShot = the ${volumes?.target} entry (one trial boot)`,
    );
    steps.push('Reboot into it; trident commit at boot runs the health checks and makes it the default');
  } else
    steps.push(
      `Finalize not allowed (--allowed-operations ${formatAllowedOperations(allowed)}): the next boot stays on ${volumes?.active}`,
    );
  return steps;
}

export async function planUpdate(
  request: UpdateRequest,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<KindPlan<UpdateRequest, UpdateContext>> {
  const { config, parsed, spec, file } = parseRequestConfiguration(request.hostConfiguration);
  const allowed = request.allowedOperations ?? { ...ALL_OPERATIONS };
  const datastorePath = request.datastorePath ?? resolveDatastorePath(undefined);
  const status = openStatus(datastorePath);
  const state = status.servicingState;
  if (!UPDATABLE.includes(state))
    throw new EngineError(
      'SERVICING_ERROR',
      'unexpected-servicing-state',
      `an update cannot start in servicing state '${state}' (only ${UPDATABLE.join(', ')})${state.endsWith('-finalized') || state === 'ab-update-health-check-failed' ? ': reboot so trident commit records the last servicing first' : ''}`,
      { code: 'ENGINE_UPDATE_BAD_STATE' },
    );
  const staged = state === 'ab-update-staged' || state === 'ab-update-finalized';
  // The recorded spec carries the sysext/confext paths the servicing filled in.
  const sameSpec = sameConfiguration(config, recordedConfiguration(status.spec, 'Host Configuration'));
  // Upstream: an identical spec in ab-update-staged is finalized; we also re-finalize a finalized
  // one (its one-shot variable may not have been written when the run stopped).
  let mode: UpdateMode;
  let selection: ServicingSelection | undefined;
  const warnings: string[] = [];
  if (state === 'runtime-update-staged' && sameSpec) {
    mode = allowed.finalize ? 'runtime-finalize-only' : 'nothing';
    if (!allowed.finalize)
      warnings.push(`the runtime update is already staged and finalize is not allowed: nothing to do`);
  } else if (staged && sameSpec) {
    mode = allowed.finalize ? 'finalize-only' : 'nothing';
    if (!allowed.finalize)
      warnings.push(`the update is already staged (${state}) and finalize is not allowed: nothing to do`);
  } else {
    if (state === 'ab-update-finalized')
      throw new EngineError(
        'SERVICING_ERROR',
        'unexpected-servicing-state',
        'an A/B update is finalized and waits for its reboot: reboot (trident commit records it) before updating again',
        { code: 'ENGINE_UPDATE_BAD_STATE' },
      );
    // A staged update is compared against what the host runs: the spec before it.
    const base = recordedConfiguration(
      state === 'provisioned' ? status.spec : (status.specOld ?? status.spec),
      'Host Configuration',
    );
    selection = selectServicingType(config, base);
    if (selection.type === 'none') {
      mode = 'nothing';
      warnings.push(
        'nothing to update: the new Host Configuration changes no image, OS setting or script (storage, health, trident and internalParams changes are not applied; the new configuration is not recorded, as upstream)',
      );
    } else if (selection.type === 'runtime-update') {
      // Sysexts, confexts and netplan change on the running OS (servicing/runtime-update/).
      mode = allowed.stage ? 'runtime' : 'nothing';
      if (!allowed.stage)
        warnings.push(
          `the configuration differs from the provisioned one but stage is not allowed (--allowed-operations ${formatAllowedOperations(allowed)}): nothing to do`,
        );
    } else if (!allowed.stage) {
      mode = 'nothing';
      warnings.push(
        `the configuration differs from the provisioned one but stage is not allowed (--allowed-operations ${formatAllowedOperations(allowed)}): nothing to do`,
      );
    } else {
      mode = 'stage';
      checkStorageUnchanged(config, base);
    }
  }

  let reader: CosiReader | undefined;
  let volumes: ActiveVolume | undefined;
  let placed: PlacedImages = { targets: [], images: [], partitions: [], skipped: [] };
  const { devices, partitionUuids } = await resolveDevices(status);
  const espId = espPartitionId(config);
  try {
    if (AB_MODES.includes(mode)) {
      if (config.storage.abUpdate === undefined)
        throw new EngineError(
          'INVALID_INPUT_ERROR',
          'invalid-host-configuration-dynamic',
          'an A/B update needs storage.abUpdate volume pairs: this host has a single volume (a clean install can add them)',
          { code: 'ENGINE_UPDATE_NO_AB_VOLUMES' },
        );
      volumes = await findActiveVolume(config, status, request.system);
    }
    if (mode === 'stage') {
      if (!config.image)
        throw new EngineError(
          'INVALID_INPUT_ERROR',
          'invalid-host-configuration',
          `${file}: an A/B update needs an image to write`,
          { code: 'ENGINE_UPDATE_NO_IMAGE' },
        );
      const sha384 = config.image.sha384 === 'ignored' ? 'ignored' : formatSha384(config.image.sha384);
      ({ reader } = await openImage(config.image.url, sha384, {
        ...request,
        signal: options.signal,
        archCheck: true,
      }));
      await checkOsRelease(reader, request.system?.osReleasePath);
      const mismatches = checkImageCompatibility(config, imageFactsFromCosi(reader.metadata), {
        source: parsed.source,
      }).filter((f) => f.severity === 'error');
      if (mismatches.length > 0)
        throw new EngineError(
          'INVALID_INPUT_ERROR',
          'host-configuration-image-mismatch',
          `${formatFinding(mismatches[0]!, file)}${mismatches.length > 1 ? ` (and ${mismatches.length - 1} more)` : ''}`,
          { code: mismatches[0]!.code },
        );
      refuseBootKind(bootKind(reader.metadata));
      // grub finds /boot, and a UKI may find / (root=UUID=), by filesystem UUID.
      const kind = bootKind(reader.metadata);
      if (kind === 'grub' || kind === 'uki')
        await checkDistinctBootFilesystem(
          config,
          reader.metadata,
          (id) => deviceFor({ devices }, status, memberOn(config, id, volumes!.active)),
          options.signal,
          kind === 'uki' ? rootFilesystem(config) : bootFilesystem(config),
        );
      if (espId === undefined)
        throw new EngineError(
          'INVALID_INPUT_ERROR',
          'invalid-host-configuration',
          'the Host Configuration has no ESP partition (type: esp): the updated volume needs a boot entry there',
          { code: 'ENGINE_UPDATE_NO_ESP' },
        );
      placed = await placeImages(config, status, reader, volumes!.target, devices, request.resize !== false);
      if (placed.images.length === 0)
        throw new EngineError(
          'INVALID_INPUT_ERROR',
          'invalid-host-configuration',
          'no image filesystem of the COSI is on an A/B volume pair: the update would write nothing',
          { code: 'ENGINE_UPDATE_NOTHING_TO_WRITE' },
        );
    }
  } catch (error) {
    await reader?.close();
    throw error;
  }
  const espDevice = espId === undefined ? undefined : devices[espId];
  if (AB_MODES.includes(mode) && espDevice === undefined)
    throw new EngineError(
      'UNSUPPORTED_CONFIGURATION_ERROR',
      'partitions-removed',
      `the ESP '${espId ?? 'esp'}' recorded at install (${status.partitionPaths?.[espId ?? ''] ?? 'no path'}) is not on this host`,
      { code: 'ENGINE_UPDATE_PARTITION_MISSING' },
    );
  const espImage = reader ? espImageOf(reader) : undefined;
  if (mode === 'stage' && espImage === undefined) {
    await reader?.close();
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'host-configuration-image-mismatch',
      "the image has no ESP filesystem: the updated volume's boot entry comes from it",
      { code: 'ENGINE_UPDATE_NO_ESP_IMAGE' },
    );
  }
  const memory = planConcurrency(request, placed.images, reader?.metadata.compression?.maxWindowLog);
  const plan: Plan & { request: UpdateRequest } = {
    request,
    source: {
      url: config.image?.url ?? '',
      metadataSha384: reader?.metadataSha384 ?? '',
      cosiVersion: reader?.metadata.version ?? '',
      osArch: reader?.metadata.osArch ?? '',
      size: reader?.source.size ?? 0,
    },
    requiredSize: 0,
    lbaSize: 512,
    targets: placed.targets,
    images: placed.images,
    newFilesystems: [],
    steps: describe(
      mode,
      selection,
      volumes,
      placed.images,
      placed.partitions,
      placed.skipped,
      allowed,
      state,
      reader ? bootKind(reader.metadata) : undefined,
    ),
    warnings,
    concurrency: memory.concurrency,
    memory: memory.line,
  };
  return {
    plan,
    context: {
      reader,
      config,
      spec,
      datastorePath,
      mode,
      allowed,
      state,
      volumes,
      partitions: placed.partitions,
      devices,
      partitionUuids,
      espId,
      espDevice,
      espImage,
      boot: reader ? bootKind(reader.metadata) : undefined,
      installIndex: status.installIndex ?? 0,
      protect: protectedFiles(config.image?.url ?? '', request.hostConfiguration.path),
    },
  };
}
