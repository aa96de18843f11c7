// Builds the demo's source disk: a real GPT disk image (vfat ESP + ext4 root with an OS tree),
// made without root from sgdisk, mkfs.vfat/mtools and mkfs.ext4 -d.
import { rm } from 'node:fs/promises';
import { createDemoDiskImage } from '@trident/test-support/disk-image';

const path = process.argv[2] ?? 'demo/source-disk.img';
const sizeMiB = Number(process.argv[3] ?? 2048);
await rm(path, { force: true });
const disk = await createDemoDiskImage({
  path,
  sizeMiB,
  espMiB: 128,
  rootMiB: Math.min(1024, sizeMiB - 256),
});
for (const p of disk.partitions)
  console.log(`  partition ${p.number} ${p.name}: ${p.fsType ?? 'raw'} ${p.size / 1048576} MiB`);
