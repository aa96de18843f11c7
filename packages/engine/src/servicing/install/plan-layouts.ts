import { planGpt } from '@trident/block-writer';
import type { HostConfiguration } from '@trident/host-config';
import { wrapStep } from '../../errors.ts';
import type { PlannedTarget } from '../../types.ts';
import { type ExistingTable, matchAdoptedPartitions, removedPartitions } from './adopt-partitions.ts';
import { layoutAroundAdopted } from './adopted-layout.ts';
import { type DiskLayout, layoutDisk } from './layout.ts';
import { readDiskGpt } from './read-disk-gpt.ts';

/**
 * Each configured disk's layout on its planned target, in configuration order: a fresh one, or,
 * for a disk with adopted partitions, one around the partitions its existing table is matched to.
 * Every layout is checked the way writeGpt will check it, so the plan refuses what the run would.
 */
export async function layoutDisks(
  config: HostConfiguration,
  targets: readonly PlannedTarget[],
  arch: 'x64' | 'arm64',
): Promise<DiskLayout[]> {
  const tables = await readExistingTables(config, targets);
  const layouts: DiskLayout[] = [];
  for (const [index, disk] of config.storage.disks.entries()) {
    const target = targets[index]!;
    const table = tables[index];
    let layout: DiskLayout;
    if (disk.adoptedPartitions.length === 0) {
      layout = layoutDisk(disk, target.size, target.sectorSize, arch);
    } else {
      const existing = table ?? { diskId: disk.id, path: target.path, gpt: undefined };
      const others = tables.filter((t): t is ExistingTable => t !== undefined && t !== table);
      const adopted = matchAdoptedPartitions(disk, existing, others);
      layout = layoutAroundAdopted(disk, target.size, target.sectorSize, arch, {
        diskGuid: existing.gpt!.header.diskGuid,
        adopted,
        removed: removedPartitions(existing, adopted),
      });
    }
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
  return layouts;
}

/**
 * The existing tables of every configured disk, read when any disk adopts partitions (the others
 * only to tell a user who named the wrong disk where the partition is); undefined for a disk-image
 * file the run will create. Nothing is opened for writing.
 */
async function readExistingTables(
  config: HostConfiguration,
  targets: readonly PlannedTarget[],
): Promise<Array<ExistingTable | undefined>> {
  if (!config.storage.disks.some((disk) => disk.adoptedPartitions.length > 0))
    return targets.map(() => undefined);
  const tables: Array<ExistingTable | undefined> = [];
  for (const [index, disk] of config.storage.disks.entries()) {
    const target = targets[index]!;
    if (target.kind === 'image-file' && target.keepContents !== true) {
      tables.push(undefined);
      continue;
    }
    let gpt: Awaited<ReturnType<typeof readDiskGpt>>;
    try {
      gpt = await readDiskGpt(target);
    } catch (error) {
      if (disk.adoptedPartitions.length === 0) {
        tables.push(undefined); // another disk's damaged table is not this install's business
        continue;
      }
      throw wrapStep(
        'INVALID_INPUT_ERROR',
        'invalid-target',
        `disk '${disk.id}' adopts partitions but the partition table of ${target.path} cannot be read; it could be missing or damaged`,
        error,
      );
    }
    tables.push({ diskId: disk.id, path: target.path, gpt });
  }
  return tables;
}
