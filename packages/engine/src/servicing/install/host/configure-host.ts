/**
 * Turns written disks into a host, in upstream's clean-install order after storage (reference
 * servicing.md §1 C–E): mount the new root, Provision on this machine (machine-id, postProvision
 * scripts), Configure chrooted into it (fstab, netplan, users, hostname, services, modules, SELinux
 * mode, additional files, postConfigure scripts), boot configuration for the image's bootloader,
 * the SELinux relabel, the datastore with the Host Status, and UEFI boot entries on real disks.
 * Every step is logged; os-config's steps are also reported as they start and end.
 */

import { configureDiskBoot } from '@trident/boot-config';
import type { CosiMetadata, CosiReader } from '@trident/cosi-format';
import { runTool } from '@trident/exec';
import { type HostConfiguration, normalizeMountPath } from '@trident/host-config';
import { type StorageLayout, withExtensionPaths } from '@trident/os-config';
import type { Plan } from '../../../types.ts';
import { bootTarget, type StackedBoot } from '../../host/boot-target.ts';
import { type BootKind, bootKind, configureOs, step } from '../../host/configure-os.ts';
import {
  adoptedFilesystemTypes,
  mountNewRoot,
  type NewRoot,
  type NewRootDevices,
} from '../../host/new-root.ts';
import type { RunSession } from '../../phases/run-session.ts';
import type { DiskLayout } from '../layout.ts';
import { resolvePartition } from '../resolve-devices.ts';
import { stackedBootArgs } from '../storage/boot-args.ts';
import type { StackedFilesystem, StackedImage } from '../storage/stacked-devices.ts';
import { buildStackedStorage, type StackedStorage } from '../storage/stacked-storage.ts';
import { type AttachedDisks, attachDisks } from './attach-disks.ts';
import { findEsp, recordInNewRoot, recordStaged, registerBootEntry, stagedInstall } from './finalize-host.ts';

export interface HostInputs {
  plan: Plan;
  config: HostConfiguration;
  /** The Host Configuration as the user wrote it: the datastore's `spec`. */
  spec: Record<string, unknown>;
  layouts: readonly DiskLayout[];
  /** The COSI's metadata; undefined when nothing came from an image. */
  metadata: CosiMetadata | undefined;
  /** The open COSI, for images streamed onto arrays and encrypted volumes. */
  reader: CosiReader | undefined;
  /** Images and new filesystems on arrays and encrypted volumes (storage/stacked-storage.ts). */
  stackedImages: readonly StackedImage[];
  stackedFilesystems: readonly StackedFilesystem[];
  /**
   * Stage only (`--allowed-operations stage`): the staged install is recorded in this datastore of
   * the servicing OS and the finalize half (new root's datastore, UEFI entry) is left for later.
   * Undefined: stage and finalize in this run.
   */
  stageOnlyDatastore?: string | undefined;
}

function imageFilesystemTypes(inputs: HostInputs): Record<string, string> {
  const types: Record<string, string> = {};
  // Images on arrays and volumes too: fstab would otherwise say `auto` for them.
  for (const image of [...inputs.plan.images, ...inputs.stackedImages])
    if (image.mountPoint && image.fsType) types[image.mountPoint] = image.fsType;
  return types;
}

/** Partition GUIDs (adopted partitions' included), image types, and the types found on adopted filesystems. */
function storageLayout(inputs: HostInputs, newRoot: NewRoot): StorageLayout {
  const partitionUuids: Record<string, string> = {};
  for (const layout of inputs.layouts) for (const p of layout.partitions) partitionUuids[p.id] = p.uuid;
  return {
    partitionUuids,
    imageFilesystemTypes: imageFilesystemTypes(inputs),
    adoptedFilesystemTypes: adoptedFilesystemTypes(inputs.config, newRoot),
    targetVolume: 'volume-a',
  };
}

/** After the tables are written and the kernel knows the partitions. */
export async function configureHost(inputs: HostInputs, session: RunSession): Promise<void> {
  const { config, plan, layouts } = inputs;
  let attached: AttachedDisks | undefined;
  let stacked: StackedStorage | undefined;
  const newRoot: NewRoot = await step(session, 'mount-new-root', 'Mounting the new root', async () => {
    attached = await attachDisks(config, plan.targets, layouts, session.signal, session.log);
    const devices = await withStackedStorage(inputs, attached, session);
    stacked = devices.stacked;
    return mountNewRoot(config, devices, imageFilesystemTypes(inputs), session.signal, session.log);
  });
  const layout = storageLayout(inputs, newRoot);
  const disks = attached!;
  let released = false;
  // The recorded spec says where each sysext/confext went (upstream's Update Host Configuration).
  let spec = inputs.spec;
  try {
    const kind = bootKind(inputs.metadata);
    const os = await configureOs(newRoot, config, layout, 'clean-install', kind, session, {
      extensionSource: plan.request.source,
      onExtensionsPlaced: (staged) => {
        spec = withExtensionPaths(spec, staged);
      },
    });
    await configureBootloader(inputs, newRoot, disks, stacked, kind, session);
    await os.relabel();
    const staged = stagedInstall(layouts, spec);
    if (inputs.stageOnlyDatastore === undefined) await recordInNewRoot(config, newRoot.path, staged, session);
    else await recordStaged(inputs.stageOnlyDatastore, staged, session);
    await newRoot.release();
    released = true;
    if (inputs.stageOnlyDatastore === undefined)
      await registerBootEntry(plan.targets, layouts, disks.disks, session);
    else
      session.log(
        'info',
        'Staging of clean install succeeded; finalize it with --allowed-operations finalize',
      );
  } finally {
    if (!released)
      await newRoot.release().catch((error: unknown) => session.log('warn', (error as Error).message));
  }
}

async function configureBootloader(
  inputs: HostInputs,
  newRoot: NewRoot,
  attached: AttachedDisks,
  stacked: StackedStorage | undefined,
  kind: BootKind | undefined,
  session: RunSession,
): Promise<void> {
  const loader = inputs.metadata?.bootloader?.type;
  if (loader !== 'systemd-boot' && loader !== 'grub') {
    session.log(
      'warn',
      `the image declares no bootloader this agent configures (${loader ?? 'none'}): its boot files are left as imaged, and a root found by PARTUUID will not be found`,
    );
    return;
  }
  const esp = findEsp(inputs.layouts);
  if (esp === undefined) {
    session.log('warn', 'no ESP partition in the Host Configuration: boot configuration skipped');
    return;
  }
  const target = bootTarget(
    inputs.config,
    (id) => resolvePartition(inputs.config, inputs.layouts as DiskLayout[], id).partition.uuid,
    inputs.metadata,
    await stackedBoot(inputs.config, stacked, session),
  );
  const result = await step(
    session,
    'boot-configuration',
    `Configuring ${kind ?? loader} boot for the installed layout`,
    () =>
      configureDiskBoot(attached.disks[esp.diskIndex]!.device, {
        bootloader: loader,
        target,
        ...(loader === 'grub' ? { grub: { rootDir: newRoot.path } } : {}),
      }),
  );
  for (const entry of result.configured) session.log('info', `Boot configuration: ${entry}`);
}

/**
 * With RAID arrays or encrypted volumes configured: builds them on the attached disks' partitions
 * (and writes what goes onto them) before anything is mounted; ids resolve to them first, and they
 * are taken down after the unmount, before the loop devices are detached (kept up when staging only).
 */
async function withStackedStorage(
  inputs: HostInputs,
  attached: AttachedDisks,
  session: RunSession,
): Promise<NewRootDevices & { stacked: StackedStorage | undefined }> {
  const { config } = inputs;
  if (config.storage.raid.software.length === 0 && (config.storage.encryption?.volumes.length ?? 0) === 0)
    return { deviceOf: attached.deviceOf, afterUnmount: attached.afterUnmount, stacked: undefined };
  let stacked: StackedStorage;
  try {
    stacked = await buildStackedStorage(
      {
        config,
        reader: inputs.reader,
        images: inputs.stackedImages,
        filesystems: inputs.stackedFilesystems,
        codec: inputs.plan.request.codec,
        partitionPath: attached.deviceOf,
      },
      session,
    );
  } catch (error) {
    await attached.afterUnmount();
    throw error;
  }
  return {
    stacked,
    deviceOf: (id) => stacked.paths.get(id) ?? attached.deviceOf(id),
    afterUnmount: async () => {
      const problems: string[] = [];
      if (inputs.stageOnlyDatastore === undefined)
        await stacked.release().catch((error: unknown) => problems.push((error as Error).message));
      // Stage only: as upstream, arrays stay assembled and volumes open for the finalize run of
      // this boot, which mounts the staged root through them (the random key is gone by then).
      else session.log('info', 'RAID arrays and encrypted volumes stay up for the finalize run');
      return [...problems, ...(await attached.afterUnmount())];
    },
  };
}

/** Root and initrd arguments for a host with arrays or encrypted volumes (storage/boot-args.ts). */
async function stackedBoot(
  config: HostConfiguration,
  stacked: StackedStorage | undefined,
  session: RunSession,
): Promise<StackedBoot> {
  if (stacked === undefined) return { args: [] };
  const rootId = config.storage.filesystems.find(
    (fs) => fs.mountPoint !== undefined && normalizeMountPath(fs.mountPoint.path) === '/',
  )?.deviceId;
  const rootPath = rootId === undefined ? undefined : stacked.paths.get(rootId);
  const fsUuid =
    rootPath === undefined
      ? undefined
      : (
          await runTool('blkid', ['-s', 'UUID', '-o', 'value', rootPath], { signal: session.signal })
        ).stdout.trim();
  return stackedBootArgs(config, stacked, rootId, fsUuid);
}
