/**
 * The boot side of an A/B update with systemd-boot type #1 entries: the host's ESP (the mounted one
 * when the running OS has it mounted, else edited in place with mtools), the update volume's entry
 * token, and the one-shot variable that makes the next boot a trial of the updated volume.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createImageEsp, createMountedEsp, type EspVolume, espDirectoryName } from '@trident/boot-config';
import type { AbVolume } from '@trident/datastore';
import { findProgram, runTool } from '@trident/exec';
import { EngineError } from '../../errors.ts';

/** The volume's entry token: upstream's ESP directory name for it, lowercased (`azla`, `azlb`, `azl2b`). */
export function volumeToken(installIndex: number, volume: AbVolume): string {
  return espDirectoryName(installIndex, volume === 'volume-a' ? 'a' : 'b').toLowerCase();
}

function majorMinor(rdev: number): string {
  // Linux's dev_t encoding (glibc gnu_dev_major/minor) for the numbers a stat(2) returns.
  const major = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
  return `${major}:${minor}`;
}

/** Where the running OS has `device` mounted (first mount in mountinfo), if it does. */
export async function mountPointOf(device: string, procDir = '/proc'): Promise<string | undefined> {
  const info = await stat(device).catch(() => undefined);
  if (!info?.isBlockDevice()) return undefined;
  const wanted = majorMinor(info.rdev);
  const mountinfo = await readFile(join(procDir, 'self/mountinfo'), 'utf8').catch(() => '');
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    if (fields[2] === wanted && fields[3] === '/') return fields[4]?.replace(/\\040/gu, ' ');
  }
  return undefined;
}

/**
 * The host's ESP. Mounted: edited through the mount, so the running kernel's FAT driver and we
 * never write the same volume behind each other's back. Not mounted: mtools on the partition.
 */
export async function openHostEsp(device: string, procDir?: string): Promise<EspVolume> {
  const mounted = await mountPointOf(device, procDir);
  return mounted === undefined ? createImageEsp({ image: device }) : createMountedEsp(mounted);
}

export interface ImageEsp {
  volume: EspVolume;
  /** Unmounts it when it was mounted; safe to call twice. */
  close(): Promise<void>;
}

/**
 * The image's ESP filesystem (a file extracted from the COSI), read through mtools where it is
 * installed (boot-config's way: no mount, works without a vfat driver), else loop-mounted read-only
 * (installed hosts often have the vfat driver but not mtools, which the agent only recommends).
 */
export async function openImageEsp(file: string, mountDir: string): Promise<ImageEsp> {
  if ((await findProgram('mcopy')) !== undefined)
    return { volume: createImageEsp({ image: file }), close: async () => undefined };
  await mkdir(mountDir, { recursive: true });
  try {
    await runTool('mount', ['-t', 'vfat', '-o', 'ro,loop', file, mountDir]);
  } catch (error) {
    throw new EngineError(
      'SERVICING_ERROR',
      'deploy-esp-images',
      `cannot read the image's ESP: mtools is not installed and mounting it (vfat, loop) failed; install mtools`,
      { cause: error, code: 'ENGINE_UPDATE_ESP_UNREADABLE' },
    );
  }
  let mounted = true;
  return {
    volume: createMountedEsp(mountDir),
    close: async () => {
      if (!mounted) return;
      mounted = false;
      await runTool('umount', [mountDir]);
    },
  };
}

/** Runs `body` on the image's ESP (`openImageEsp`), closing it however `body` ends. */
export async function withImageEsp<T>(
  file: string,
  mountDir: string,
  body: (image: EspVolume) => Promise<T>,
): Promise<T> {
  const image = await openImageEsp(file, mountDir);
  try {
    return await body(image.volume);
  } finally {
    await image.close();
  }
}
