import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import type { BlockTarget } from '@trident/block-writer';
import { EngineError } from '../../errors.ts';
import type { PlannedNewFilesystem } from '../../types.ts';

const run = promisify(execFile);
const PAGE = 4096;

async function tool(command: string, args: string[], what: string): Promise<string> {
  try {
    const { stdout } = await run(command, args, { maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    const detail = e.code === 'ENOENT' ? `${command} is not installed` : e.stderr?.trim() || e.message;
    throw new EngineError('SERVICING_ERROR', 'create-filesystems', `${what}: ${detail}`, {
      cause: error,
      code: 'ENGINE_MKFS_FAILED',
    });
  }
}

/**
 * Creates one new filesystem (or swap area) inside its partition's byte range, before the GPT
 * exists: ext4 and vfat through their offset options on disk-image files; every type through a
 * loop device bounded to the range on block devices (our exclusive open of the disk stays held);
 * swap by writing the swap header ourselves (util-linux 2.38's mkswap has no offset option).
 */
export async function makeFilesystem(target: BlockTarget, fs: PlannedNewFilesystem): Promise<void> {
  if (fs.fsType === 'swap') {
    await writeSwapHeader(target, fs.offset, fs.length, fs.id);
    return;
  }
  const label = fs.id.slice(0, fs.fsType === 'vfat' ? 11 : 16);
  if (target.kind === 'file' && fs.fsType === 'ext4') {
    await tool(
      'mkfs.ext4',
      ['-q', '-F', '-L', label, '-E', `offset=${fs.offset}`, target.path, `${Math.floor(fs.length / 1024)}k`],
      `mkfs.ext4 for '${fs.id}'`,
    );
    return;
  }
  if (target.kind === 'file' && fs.fsType === 'vfat') {
    await tool(
      'mkfs.vfat',
      [
        `--offset=${fs.offset / 512}`,
        '-n',
        label.toUpperCase(),
        target.path,
        String(Math.floor(fs.length / 1024)),
      ],
      `mkfs.vfat for '${fs.id}'`,
    );
    return;
  }
  if (process.getuid?.() !== 0) {
    throw new EngineError(
      'EXECUTION_ENVIRONMENT_MISCONFIGURATION_ERROR',
      'check-root-privileges',
      `creating ${fs.fsType} for '${fs.id}' on ${target.path} needs a loop device, which needs root`,
      { code: 'ENGINE_NEEDS_ROOT' },
    );
  }
  const loop = (
    await tool(
      'losetup',
      ['--find', '--show', '--offset', String(fs.offset), '--sizelimit', String(fs.length), target.path],
      'losetup',
    )
  ).trim();
  try {
    const mkfs: Record<string, [string, string[]]> = {
      ext4: ['mkfs.ext4', ['-q', '-F', '-L', label, loop]],
      vfat: ['mkfs.vfat', ['-n', label.toUpperCase(), loop]],
      xfs: ['mkfs.xfs', ['-q', '-f', '-L', label.slice(0, 12), loop]],
      ntfs: ['mkfs.ntfs', ['-Q', '-F', '-L', label, loop]],
    };
    const [command, args] = mkfs[fs.fsType]!;
    await tool(command, args, `${command} for '${fs.id}'`);
  } finally {
    await run('losetup', ['-d', loop]).catch(() => undefined);
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
  if (pages < 10)
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-host-configuration',
      `swap '${label}' is too small (${length} bytes; at least 40 KiB)`,
    );
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
