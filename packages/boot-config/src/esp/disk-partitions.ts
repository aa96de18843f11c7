/**
 * The boot volumes of a whole disk (image file or device), found from its GPT: the ESP, and the
 * XBOOTLDR partition (the Boot Loader Specification's extended boot partition) when there is one.
 * Each comes back as an mtools-backed `EspVolume` at its byte offset, so a disk-image file can be
 * configured without loop devices or a vfat driver.
 */
import { open } from 'node:fs/promises';
import {
  detectLbaSize,
  ESP_TYPE_GUID,
  type GptPartition,
  gptRegionLength,
  parseGpt,
} from '@trident/cosi-format';
import { BootConfigError } from '../errors.ts';
import type { EspVolume } from './esp-volume.ts';
import { createImageEsp } from './image-esp.ts';

export const XBOOTLDR_TYPE_GUID = 'bc13c2ff-59e6-4262-a352-b275fd6f7172';

export interface DiskPartitionInfo {
  number: number;
  typeGuid: string;
  partUuid: string;
  offset: number;
  size: number;
  name: string;
}

export interface DiskBootVolumes {
  partitions: DiskPartitionInfo[];
  esp: { partition: DiskPartitionInfo; volume: EspVolume };
  xbootldr?: { partition: DiskPartitionInfo; volume: EspVolume };
}

/** The partitions of the disk's primary GPT. */
export async function readDiskPartitions(disk: string): Promise<DiskPartitionInfo[]> {
  const layoutError = (message: string, cause?: unknown) =>
    new BootConfigError('BOOTCFG_DISK_LAYOUT', `${disk}: ${message}`, { path: disk, cause });
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(disk, 'r');
  } catch (error) {
    throw layoutError(`cannot open: ${(error as Error).message}`, error);
  }
  try {
    const head = Buffer.alloc(8192);
    await handle.read(head, 0, head.length, 0);
    const lbaSize = detectLbaSize(head);
    if (lbaSize === undefined) throw layoutError('has no GPT (no "EFI PART" signature at LBA 1)');
    // The header says how long the table is; read exactly that much.
    const header = head.subarray(lbaSize, 2 * lbaSize);
    const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
    const entryLba = Number(view.getBigUint64(72, true));
    const length = gptRegionLength(
      {
        partitionEntryLba: entryLba,
        numberOfEntries: view.getUint32(80, true),
        entrySize: view.getUint32(84, true),
      },
      lbaSize,
    );
    if (!(length > 0 && length <= 64 * 1024 * 1024)) throw layoutError(`GPT entry array of ${length} bytes`);
    const table = Buffer.alloc(length);
    await handle.read(table, 0, length, 0);
    let gpt: ReturnType<typeof parseGpt>;
    try {
      gpt = parseGpt(table, { lbaSize });
    } catch (error) {
      throw layoutError(`unreadable GPT: ${(error as Error).message}`, error);
    }
    return gpt.partitions.map((p: GptPartition) => ({
      number: p.number,
      typeGuid: p.typeGuid.toLowerCase(),
      partUuid: p.partitionGuid.toLowerCase(),
      offset: p.firstLba * lbaSize,
      size: (p.lastLba - p.firstLba + 1) * lbaSize,
      name: p.name,
    }));
  } finally {
    await handle.close();
  }
}

/** The ESP (and XBOOTLDR) of a disk, edited through mtools at their offsets. */
export async function openDiskBootVolumes(
  disk: string,
  options: { signal?: AbortSignal } = {},
): Promise<DiskBootVolumes> {
  const partitions = await readDiskPartitions(disk);
  const esps = partitions.filter((p) => p.typeGuid === ESP_TYPE_GUID);
  if (esps.length !== 1)
    throw new BootConfigError(
      'BOOTCFG_DISK_LAYOUT',
      `${disk}: expected one EFI System Partition (type ${ESP_TYPE_GUID}), found ${esps.length}`,
      { path: disk },
    );
  const volume = (p: DiskPartitionInfo) =>
    createImageEsp({ image: disk, offset: p.offset, ...(options.signal ? { signal: options.signal } : {}) });
  const xbootldr = partitions.find((p) => p.typeGuid === XBOOTLDR_TYPE_GUID);
  return {
    partitions,
    esp: { partition: esps[0]!, volume: volume(esps[0]!) },
    ...(xbootldr === undefined ? {} : { xbootldr: { partition: xbootldr, volume: volume(xbootldr) } }),
  };
}
