/**
 * Install's side of the new root: the disks it just wrote made visible as block devices (a
 * disk-image file through a loop device with partition scanning), and Host Configuration ids
 * resolved to the partitions its layout placed them in (an A/B pair: volume A).
 */
import { partitionDevicePath, rereadPartitionTable } from '@trident/block-writer';
import { runTool } from '@trident/exec';
import type { HostConfiguration } from '@trident/host-config';
import type { PlannedTarget } from '../../../types.ts';
import type { NewRootDevices } from '../../host/new-root.ts';
import type { Log } from '../../phases/run-session.ts';
import type { DiskLayout } from '../layout.ts';
import { resolvePartition } from '../resolve-devices.ts';

export interface AttachedDisk {
  /** The target as planned: a disk device or a disk-image file. */
  target: PlannedTarget;
  /** The block device whose partitions the kernel shows (`/dev/sdb`, `/dev/loop3`). */
  device: string;
  /** Set when this run attached a loop device for an image file, to detach it afterwards. */
  loop: boolean;
}

export interface AttachedDisks extends NewRootDevices {
  disks: AttachedDisk[];
  afterUnmount(): Promise<string[]>;
}

async function attach(target: PlannedTarget, signal: AbortSignal): Promise<AttachedDisk> {
  if (target.kind === 'disk') return { target, device: target.path, loop: false };
  const { stdout } = await runTool('losetup', ['--find', '--show', '--partscan', target.path]);
  const disk: AttachedDisk = { target, device: stdout.trim(), loop: true };
  // Kernels without GPT support find no partitions on their own; the re-read adds them from user space.
  await rereadPartitionTable(disk.device, { signal });
  return disk;
}

async function detach(disks: readonly AttachedDisk[]): Promise<string[]> {
  const problems: string[] = [];
  for (const disk of disks.filter((d) => d.loop)) {
    const result = await runTool('losetup', ['--detach', disk.device], { okCodes: 'any' });
    if (result.exitCode !== 0) problems.push(`losetup --detach ${disk.device}: ${result.stderr.trim()}`);
  }
  return problems;
}

/** Attaches every target; on failure detaches what was attached before throwing. */
export async function attachDisks(
  config: HostConfiguration,
  targets: readonly PlannedTarget[],
  layouts: readonly DiskLayout[],
  signal: AbortSignal,
  log: Log,
): Promise<AttachedDisks> {
  const disks: AttachedDisk[] = [];
  try {
    for (const target of targets) {
      const disk = await attach(target, signal);
      disks.push(disk);
      if (disk.loop) log('debug', `Attached ${target.path} as ${disk.device}`);
    }
  } catch (error) {
    await detach(disks);
    throw error;
  }
  return {
    disks,
    deviceOf: (id) => {
      const { targetIndex, partition } = resolvePartition(config, layouts as DiskLayout[], id);
      return partitionDevicePath(disks[targetIndex]!.device, partition.number);
    },
    afterUnmount: () => detach(disks),
  };
}
