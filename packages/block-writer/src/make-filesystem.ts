import { randomUUID } from 'node:crypto';
import type { BlockTarget } from './block-target.ts';
import { runDeviceTool, runDeviceToolChecked } from './device-tool.ts';
import { BlockWriterError } from './errors.ts';

const PAGE = 4096;

export type NewFilesystemType = 'ext4' | 'xfs' | 'vfat' | 'ntfs' | 'swap';

export interface NewFilesystem {
  /** What the filesystem is called (its Host Configuration id): the label, and in messages. */
  id: string;
  fsType: NewFilesystemType;
  /** Byte range of its partition on the target. */
  offset: number;
  length: number;
}

/**
 * Creates one new filesystem (or swap area) inside its partition's byte range, before the GPT
 * exists: ext4 and vfat through their offset options on disk-image files; every type through a
 * loop device bounded to the range on block devices (our exclusive open of the disk stays held);
 * swap by writing the swap header ourselves (util-linux 2.38's mkswap has no offset option).
 * Failures: `BLOCK_MKFS_FAILED`, `BLOCK_NEEDS_ROOT` (a loop device is needed), `BLOCK_SWAP_TOO_SMALL`.
 */
export async function makeFilesystem(target: BlockTarget, fs: NewFilesystem): Promise<void> {
  if (fs.fsType === 'swap') {
    await writeSwapHeader(target, fs.offset, fs.length, fs.id);
    return;
  }
  const label = fs.id.slice(0, fs.fsType === 'vfat' ? 11 : 16);
  const mkfs = (command: string, args: string[], device: string) =>
    runDeviceToolChecked(command, args, device, {
      errorCode: 'BLOCK_MKFS_FAILED',
      what: `${command} for '${fs.id}'`,
    });
  if (target.kind === 'file' && fs.fsType === 'ext4') {
    const size = `${Math.floor(fs.length / 1024)}k`;
    await mkfs(
      'mkfs.ext4',
      ['-q', '-F', '-L', label, '-E', `offset=${fs.offset}`, target.path, size],
      target.path,
    );
    return;
  }
  if (target.kind === 'file' && fs.fsType === 'vfat') {
    const blocks = String(Math.floor(fs.length / 1024));
    await mkfs(
      'mkfs.vfat',
      [`--offset=${fs.offset / 512}`, '-n', label.toUpperCase(), target.path, blocks],
      target.path,
    );
    return;
  }
  if (process.getuid?.() !== 0) {
    throw new BlockWriterError(
      'BLOCK_NEEDS_ROOT',
      `creating ${fs.fsType} for '${fs.id}' on ${target.path} needs a loop device, which needs root`,
      { device: target.path },
    );
  }
  const range = ['--offset', String(fs.offset), '--sizelimit', String(fs.length)];
  const attached = await runDeviceToolChecked(
    'losetup',
    ['--find', '--show', ...range, target.path],
    target.path,
    {
      errorCode: 'BLOCK_MKFS_FAILED',
      what: 'losetup',
    },
  );
  const loop = attached.stdout.trim();
  try {
    const commands: Record<Exclude<NewFilesystemType, 'swap'>, [string, string[]]> = {
      ext4: ['mkfs.ext4', ['-q', '-F', '-L', label, loop]],
      vfat: ['mkfs.vfat', ['-n', label.toUpperCase(), loop]],
      xfs: ['mkfs.xfs', ['-q', '-f', '-L', label.slice(0, 12), loop]],
      ntfs: ['mkfs.ntfs', ['-Q', '-F', '-L', label, loop]],
    };
    const [command, args] = commands[fs.fsType];
    await mkfs(command, args, loop);
  } finally {
    await runDeviceTool('losetup', ['-d', loop], loop).catch(() => undefined);
  }
}

/**
 * The Linux swap header (what mkswap writes): in the first 4 KiB page, version 1 at byte 1024,
 * the last usable page, no bad pages, a UUID and a label, and "SWAPSPACE2" ending the page.
 */
async function writeSwapHeader(
  target: BlockTarget,
  offset: number,
  length: number,
  label: string,
): Promise<void> {
  const pages = Math.floor(length / PAGE);
  if (pages < 10) {
    throw new BlockWriterError(
      'BLOCK_SWAP_TOO_SMALL',
      `swap '${label}' is too small (${length} bytes; at least 40 KiB)`,
      { device: target.path },
    );
  }
  const page = new Uint8Array(PAGE);
  const view = new DataView(page.buffer);
  view.setUint32(1024, 1, true);
  view.setUint32(1028, pages - 1, true);
  view.setUint32(1032, 0, true);
  // The UUID is stored as its 16 bytes in text order.
  page.set(Buffer.from(randomUUID().replaceAll('-', ''), 'hex'), 1036);
  page.set(new TextEncoder().encode(label).subarray(0, 15), 1052);
  page.set(new TextEncoder().encode('SWAPSPACE2'), PAGE - 10);
  await target.writeAt(page, offset);
}
