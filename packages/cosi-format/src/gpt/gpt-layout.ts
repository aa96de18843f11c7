import type { GptHeader, GptPartition, GptProblem } from './gpt.ts';

/**
 * Everything block-writer's `decodeGptRegion` and `layoutGpt` refuse about a decoded table, so
 * validation and planning refuse it before stream-disk wipes a target: FirstUsableLBA after the
 * primary entry array, partitions inside the header's usable range and not overlapping, and (when
 * the disk size is known) clear of the backup GPT (UEFI 2.10 §5.3.1).
 */
export function checkLayout(
  header: GptHeader,
  partitions: GptPartition[],
  where: { lbaSize: number; entriesStart: number; diskSize: number | undefined },
): GptProblem[] {
  const { lbaSize, entriesStart, diskSize } = where;
  const problems: GptProblem[] = [];
  const entryLbas = Math.ceil((header.numberOfEntries * header.entrySize) / lbaSize);
  if (header.firstUsableLba < header.partitionEntryLba + entryLbas) {
    problems.push({
      code: 'COSI_GPT_FIRST_USABLE_IN_ENTRIES',
      message: `first usable LBA ${header.firstUsableLba} lies inside the partition entry array (LBA ${header.partitionEntryLba}..${header.partitionEntryLba + entryLbas - 1}); it must be at least ${header.partitionEntryLba + entryLbas}`,
      offset: lbaSize + 40,
    });
  }
  for (const partition of partitions) {
    const at = entriesStart + (partition.number - 1) * header.entrySize;
    const range = `partition ${partition.number} (LBA ${partition.firstLba}..${partition.lastLba})`;
    if (partition.lastLba < partition.firstLba) {
      problems.push({
        code: 'COSI_GPT_PARTITION_RANGE',
        message: `partition ${partition.number} ends (LBA ${partition.lastLba}) before it starts (LBA ${partition.firstLba})`,
        offset: at,
        partition: partition.number,
      });
    } else if (partition.firstLba < header.firstUsableLba || partition.lastLba > header.lastUsableLba) {
      problems.push({
        code: 'COSI_GPT_PARTITION_OUTSIDE_USABLE',
        message: `${range} is outside the usable range ${header.firstUsableLba}..${header.lastUsableLba}`,
        offset: at,
        partition: partition.number,
      });
    }
  }
  const byStart = partitions
    .filter((p) => p.lastLba >= p.firstLba)
    .sort((a, b) => a.firstLba - b.firstLba || a.number - b.number);
  let reach: GptPartition | undefined;
  for (const current of byStart) {
    if (reach !== undefined && current.firstLba <= reach.lastLba) {
      problems.push({
        code: 'COSI_GPT_PARTITION_OVERLAP',
        message: `partitions ${reach.number} (LBA ${reach.firstLba}..${reach.lastLba}) and ${current.number} (LBA ${current.firstLba}..${current.lastLba}) overlap`,
        partition: current.number,
      });
    }
    if (reach === undefined || current.lastLba > reach.lastLba) reach = current;
  }
  if (diskSize !== undefined) problems.push(...checkDiskFit(header, partitions, diskSize, lbaSize));
  return problems;
}

/**
 * Where block-writer's `layoutGpt` puts the backup GPT on a disk of `diskSize` bytes: its header in
 * the last LBA, its entries just before, and LastUsableLBA one before those. A disk written from a
 * COSI is at least `disk.size`, so a table that fits this layout fits every target.
 */
function checkDiskFit(
  header: GptHeader,
  partitions: GptPartition[],
  diskSize: number,
  lbaSize: number,
): GptProblem[] {
  const problems: GptProblem[] = [];
  const totalLbas = Math.floor(diskSize / lbaSize);
  const entryLbas = Math.ceil((header.numberOfEntries * header.entrySize) / lbaSize);
  const lastUsable = totalLbas - 1 - entryLbas - 1;
  if (header.firstUsableLba > lastUsable) {
    problems.push({
      code: 'COSI_GPT_DISK_TOO_SMALL',
      message: `a ${diskSize}-byte disk has ${totalLbas} LBAs: too few for the first usable LBA ${header.firstUsableLba} and a backup GPT of ${entryLbas + 1} LBAs`,
      offset: lbaSize + 40,
    });
  }
  for (const partition of partitions) {
    if (partition.lastLba <= lastUsable || partition.lastLba < partition.firstLba) continue;
    const pastEnd = (partition.lastLba + 1) * lbaSize > diskSize;
    problems.push({
      code: 'COSI_GPT_PARTITION_OVER_BACKUP',
      message: pastEnd
        ? `partition ${partition.number} ends at byte ${(partition.lastLba + 1) * lbaSize}, past the end of the ${diskSize}-byte disk`
        : `partition ${partition.number} (LBA ${partition.firstLba}..${partition.lastLba}) reaches into the backup GPT: on a ${diskSize}-byte disk the last usable LBA is ${lastUsable} (the backup entries and header take the last ${entryLbas + 1} LBAs)`,
      partition: partition.number,
    });
  }
  return problems;
}
