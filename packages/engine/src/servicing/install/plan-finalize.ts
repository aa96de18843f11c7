/**
 * A finalize-only clean install (`--allowed-operations finalize`, gRPC InstallFinalize; reference
 * servicing.md §1 A.5, E): the servicing OS's datastore must hold a staged clean install, whose
 * Host Configuration, partitions and disk GUIDs say what to finalize. Nothing is streamed; the
 * disks are only checked to be the ones that were staged (their GPT disk and partition GUIDs), then
 * mounted to receive the installed OS's datastore, and the ESP gets its UEFI boot entry.
 */
import { stat } from 'node:fs/promises';
import { inspectTarget } from '@trident/block-writer';
import type { Gpt } from '@trident/cosi-format';
import { DEFAULT_DATASTORE_PATH, type HostStatus, openDatastore } from '@trident/datastore';
import { type HostConfiguration, parseHostConfig, plainDocument } from '@trident/host-config';
import { EngineError, wrapStep } from '../../errors.ts';
import type { Plan, PlannedTarget, TargetRequest } from '../../types.ts';
import type { KindPlan } from '../kind.ts';
import { planConcurrency } from '../phases/write-images.ts';
import type { StagedInstall } from './host/finalize-host.ts';
import type { DiskLayout } from './layout.ts';
import { readDiskGpt } from './read-disk-gpt.ts';
import type { InstallRequest } from './request.ts';

export interface FinalizeContext {
  phase: 'finalize';
  /** The staged Host Configuration, validated. */
  config: HostConfiguration;
  /** What the staging recorded, written again into the installed OS's datastore. */
  staged: StagedInstall;
  /** Each disk's partitions as read back from it (only ids, numbers, GUIDs and types are used). */
  layouts: DiskLayout[];
  stagingDatastore: string;
}

/** The servicing OS's datastore a stage-only install writes and a finalize-only install reads. */
export function stagingDatastorePath(request: InstallRequest): string {
  return request.stagingDatastore ?? DEFAULT_DATASTORE_PATH;
}

const RESTAGEABLE = new Set(['not-provisioned', 'clean-install-staged', 'clean-install-finalized']);

/**
 * Stage-only: the datastore must not belong to a provisioned host (upstream refuses a clean install
 * over a persistent datastore, `clean-install-on-provisioned-host`).
 */
export function checkStagingState(path: string): void {
  const status = readStatus(path);
  if (status !== undefined && (!RESTAGEABLE.has(status.servicingState) || status.isManagementOs !== true))
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'clean-install-on-provisioned-host',
      `the datastore ${path} belongs to a provisioned host (servicing state ${status.servicingState}): a clean install would overwrite it`,
      { code: 'ENGINE_CLEAN_INSTALL_ON_PROVISIONED_HOST' },
    );
}

function readStatus(path: string): HostStatus | undefined {
  let datastore: ReturnType<typeof openDatastore>;
  try {
    datastore = openDatastore(path, { readOnly: true });
  } catch (error) {
    if ((error as { code?: string }).code === 'DATASTORE_NOT_FOUND') return undefined;
    throw wrapStep('INTERNAL_ERROR', 'datastore', `cannot read the datastore ${path}`, error);
  }
  try {
    return datastore.latest() === undefined ? undefined : datastore.current();
  } finally {
    datastore.close();
  }
}

function notStaged(path: string, state: string): EngineError {
  // Upstream's error for a finalize that finds no staged install: InternalError UnexpectedServicingState.
  return new EngineError(
    'INTERNAL_ERROR',
    'unexpected-servicing-state',
    `Unexpected servicing state '${state}': finalizing a clean install needs one staged, and ${path} ${state === 'none' ? 'does not exist' : `is in state ${state}`}; run 'trident install --allowed-operations stage' first`,
    { code: 'ENGINE_INSTALL_NOT_STAGED' },
  );
}

/** Key-order-independent JSON, to compare two Host Configuration documents. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value) ?? 'null';
}

export async function planFinalizeInstall(
  request: InstallRequest,
): Promise<KindPlan<InstallRequest, FinalizeContext>> {
  const stagingDatastore = stagingDatastorePath(request);
  const status = readStatus(stagingDatastore);
  if (status === undefined) throw notStaged(stagingDatastore, 'none');
  if (status.servicingState !== 'clean-install-staged')
    throw notStaged(stagingDatastore, status.servicingState);
  const spec = status.spec as Record<string, unknown>;
  if (request.hostConfiguration !== undefined) {
    const given = parseHostConfig(request.hostConfiguration.text);
    const document = plainDocument(given.source?.value) ?? {};
    if (canonical(document) !== canonical(spec))
      throw new EngineError(
        'INVALID_INPUT_ERROR',
        'invalid-host-configuration',
        `${request.hostConfiguration.path ?? 'the Host Configuration'} is not the one staged in ${stagingDatastore}: finalize with the staged document, or stage this one first`,
        { code: 'ENGINE_STAGED_CONFIGURATION_DIFFERS' },
      );
  }
  // The staged document was validated when it was staged; JSON is YAML, so it parses as written.
  const parsed = parseHostConfig(JSON.stringify(spec));
  if (!parsed.ok || !parsed.config)
    throw new EngineError(
      'INTERNAL_ERROR',
      'datastore',
      `the Host Configuration staged in ${stagingDatastore} no longer validates: stage again`,
      { code: 'ENGINE_STAGED_CONFIGURATION_INVALID' },
    );
  const config = parsed.config;
  const staged: StagedInstall = {
    spec,
    partitionPaths: status.partitionPaths ?? {},
    diskUuids: status.diskUuids ?? {},
    installIndex: status.installIndex,
  };
  const targets: PlannedTarget[] = [];
  const layouts: DiskLayout[] = [];
  for (const disk of config.storage.disks) {
    const requested = request.disks?.[disk.id] ?? ({ kind: 'disk', path: disk.device } as TargetRequest);
    const target = await stagedTarget(disk.id, requested);
    const gpt = await readPrimaryGpt(target);
    layouts.push(stagedLayout(disk, gpt, target, staged));
    targets.push(target);
  }
  const sha384 = config.image?.sha384;
  const plan: Plan & { request: InstallRequest } = {
    request,
    source: {
      url: config.image?.url ?? '',
      metadataSha384: sha384 !== undefined && sha384 !== 'ignored' ? sha384 : '',
      cosiVersion: '',
      osArch: '',
      size: 0,
    },
    requiredSize: 0,
    lbaSize: targets[0]?.sectorSize === 4096 ? 4096 : 512,
    targets,
    images: [],
    newFilesystems: [],
    steps: [
      `read the staged clean install from ${stagingDatastore}`,
      ...targets.map((t, i) => `check ${t.path} is the staged disk '${layouts[i]!.diskId}' (GPT disk GUID)`),
      'mount the new root (volume A) with its filesystems',
      `record the Host Status in ${config.trident.datastorePath} of the new root`,
      'unmount the new root; create a UEFI boot entry when the ESP is on a disk of a UEFI host',
      `record clean-install-finalized in ${stagingDatastore}`,
    ],
    warnings: [],
    ...(({ concurrency, line }) => ({ concurrency, memory: line }))(planConcurrency(request, [], undefined)),
  };
  return { plan, context: { phase: 'finalize', config, staged, layouts, stagingDatastore } };
}

async function stagedTarget(diskId: string, requested: TargetRequest): Promise<PlannedTarget> {
  if (requested.kind === 'auto')
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-target',
      `disk '${diskId}': finalizing an install needs the device it was staged on`,
    );
  if (requested.kind === 'image-file') {
    const info = await stat(requested.path).catch((error: unknown) => {
      throw wrapStep(
        'INVALID_INPUT_ERROR',
        'invalid-target',
        `disk '${diskId}': the staged disk-image file ${requested.path} cannot be read`,
        error,
      );
    });
    return { kind: 'image-file', path: requested.path, size: info.size, sectorSize: 512, create: false };
  }
  try {
    const report = await inspectTarget(requested.path, { protect: [] });
    return {
      kind: 'disk',
      path: requested.path,
      size: report.size,
      sectorSize: report.sectorSize,
      create: false,
    };
  } catch (error) {
    throw wrapStep(
      'INVALID_INPUT_ERROR',
      'invalid-target',
      `disk '${diskId}': the staged disk ${requested.path} cannot be read`,
      error,
    );
  }
}

async function readPrimaryGpt(target: PlannedTarget): Promise<Gpt> {
  const failed = (error?: unknown) =>
    wrapStep(
      'INVALID_INPUT_ERROR',
      'invalid-target',
      `${target.path} has no readable GPT: it is not a staged disk`,
      error ?? new Error('no GPT signature at LBA 1'),
    );
  const gpt = await readDiskGpt(target).catch((error: unknown) => {
    throw failed(error);
  });
  if (gpt === undefined) throw failed();
  return gpt;
}

/** The staged disk's partitions in configuration order, after checking they are the staged ones. */
function stagedLayout(
  disk: HostConfiguration['storage']['disks'][number],
  gpt: Gpt,
  target: PlannedTarget,
  staged: StagedInstall,
): DiskLayout {
  const mismatch = (what: string) =>
    new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-target',
      `disk '${disk.id}' (${target.path}) is not the disk that was staged: ${what}`,
      { code: 'ENGINE_STAGED_DISK_MISMATCH' },
    );
  const diskGuid = gpt.header.diskGuid.toLowerCase();
  const expected = staged.diskUuids[disk.id]?.toLowerCase();
  if (expected !== undefined && expected !== diskGuid)
    throw mismatch(`its GPT disk GUID is ${diskGuid}, the staged one ${expected}`);
  const byPath = (id: string) => {
    const path = staged.partitionPaths[id];
    if (!path?.startsWith('/dev/disk/by-partuuid/')) return undefined;
    const uuid = path.slice('/dev/disk/by-partuuid/'.length).toLowerCase();
    return gpt.partitions.find((p) => p.partitionGuid.toLowerCase() === uuid);
  };
  // New partitions were numbered in configuration order unless the disk kept adopted ones, which
  // keep their numbers: then the staged GUIDs say which entry is which.
  const adopting = disk.adoptedPartitions.length > 0;
  const ids = [...disk.partitions.map((p) => p.id), ...disk.adoptedPartitions.map((p) => p.id)];
  const partitions = ids.map((id, index) => {
    const entry = adopting ? byPath(id) : gpt.partitions.find((p) => p.number === index + 1);
    if (entry === undefined)
      throw mismatch(
        adopting
          ? `partition '${id}' (${staged.partitionPaths[id] ?? 'no staged path'}) is missing`
          : `partition ${index + 1} ('${id}') is missing`,
      );
    const uuid = entry.partitionGuid.toLowerCase();
    const path = staged.partitionPaths[id];
    if (path?.startsWith('/dev/disk/by-partuuid/') && path.slice('/dev/disk/by-partuuid/'.length) !== uuid)
      throw mismatch(`partition '${id}' has GUID ${uuid}, the staged one ${path}`);
    return {
      id,
      number: entry.number,
      typeGuid: entry.typeGuid.toLowerCase(),
      uuid,
      label: entry.name,
      firstLba: entry.firstLba,
      lastLba: entry.lastLba,
      offset: entry.firstLba * gpt.lbaSize,
      length: (entry.lastLba - entry.firstLba + 1) * gpt.lbaSize,
      ...(index >= disk.partitions.length ? { adopted: { attributes: entry.attributes } } : {}),
    };
  });
  return {
    diskId: disk.id,
    diskUuid: diskGuid,
    sectorSize: gpt.lbaSize,
    minimumSize: 0,
    partitions,
    gptRegion: new Uint8Array(0),
  };
}
