/**
 * The new OS as a directory tree: the Host Configuration's filesystems mounted under a private
 * directory in path order, as upstream mounts `/mnt/newroot`. Install and A/B update share it;
 * each resolves Host Configuration ids to block devices its own way (install: the partitions it
 * just laid out, through loop devices for image files; update: the recorded partition paths of the
 * volume being written) and passes the resolver in.
 *
 * What is not mounted, and why:
 * - vfat (the ESP): boot configuration edits it through mtools at its byte offset, which works on
 *   hosts without the vfat module and never races a mounted FAT;
 * - swap, tmpfs and overlay entries: nothing of the OS lives there while servicing;
 * - a verity-protected filesystem is mounted read-only without journal replay (`ro,noload`), so its
 *   bytes stay exactly what the hash tree covers; a verity root's /etc gets the overlay it has at
 *   boot, so OS configuration still writes there;
 * - an adopted filesystem is mounted writable like any other, as upstream does: install never
 *   formats or overwrites it, but OS configuration may add to it (a user's home directory under an
 *   adopted /home, an additional file, a script's output).
 */
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from '@trident/exec';
import { type HostConfiguration, normalizeMountPath } from '@trident/host-config';
import { EngineError, wrapStep } from '../../errors.ts';
import type { Log } from '../phases/run-session.ts';

export interface MountedFilesystem {
  mountPoint: string;
  device: string;
  /** Where it is mounted on this machine (under `NewRoot.path`). */
  path: string;
}

export interface NewRoot {
  /** The directory the new OS's `/` is mounted on. */
  path: string;
  mounted: MountedFilesystem[];
  /**
   * The filesystem type of every filesystem with a device and a mount point, by mount point: as
   * configured, else the image's, else what `blkid` finds on the disk (an adopted filesystem
   * declared `auto`, a finalize-only install).
   */
  filesystemTypes: Readonly<Record<string, string>>;
  /** Block device of a Host Configuration block-device id (partition or A/B pair), on this machine. */
  deviceOf(id: string): string;
  /** Unmounts everything (then the caller's `afterUnmount`); safe to call twice. */
  release(): Promise<void>;
}

export interface NewRootDevices {
  /** Block device holding a Host Configuration id's data (an A/B pair: the member being written). */
  deviceOf(id: string): string;
  /** Runs after every unmount (install detaches its loop devices); returns problems to report. */
  afterUnmount?: () => Promise<string[]>;
}

const NOT_MOUNTED = new Set(['vfat', 'swap', 'tmpfs', 'overlay', 'ntfs']);
/** Where a verity root's writable /etc lives (upstream's fixed path). */
const OVERLAY_DIR = '/var/lib/trident-overlay';

async function waitForDevice(path: string, signal: AbortSignal): Promise<void> {
  // The kernel creates partition nodes of a new loop device asynchronously.
  for (let attempt = 0; attempt < 50; attempt++) {
    signal.throwIfAborted();
    if ((await stat(path).catch(() => undefined))?.isBlockDevice()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new EngineError('SERVICING_ERROR', 'mount-new-root', `partition device ${path} did not appear`, {
    code: 'ENGINE_PARTITION_DEVICE_MISSING',
  });
}

/**
 * Mounts the new root. On failure everything done so far is undone (the caller's `afterUnmount`
 * included) before the error is thrown.
 */
export async function mountNewRoot(
  config: HostConfiguration,
  devices: NewRootDevices,
  /** Filesystem type of every image filesystem by mount point (the COSI's `fsType`). */
  imageFsTypes: Readonly<Record<string, string>>,
  signal: AbortSignal,
  log: Log,
): Promise<NewRoot> {
  const mounted: MountedFilesystem[] = [];
  const path = await mkdtemp(join(tmpdir(), 'trident-newroot-'));
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    const problems: string[] = [];
    for (const fs of [...mounted].reverse()) {
      const result = await runTool('umount', [fs.path], { okCodes: 'any' });
      if (result.exitCode !== 0) problems.push(`umount ${fs.path}: ${result.stderr.trim()}`);
    }
    if (problems.length === 0) problems.push(...((await devices.afterUnmount?.()) ?? []));
    if (problems.length === 0) await rm(path, { recursive: true, force: true });
    else
      throw new EngineError(
        'SERVICING_ERROR',
        'unmount-new-root',
        `could not release the new root at ${path}: ${problems.join('; ')}`,
        { code: 'ENGINE_NEW_ROOT_RELEASE' },
      );
  };
  try {
    const verityIds = new Set(config.storage.verity.map((v) => v.id));
    /** The partition holding a filesystem's bytes: a verity device's data partition. */
    const dataDeviceOf = (id: string): string => {
      const verity = config.storage.verity.find((v) => v.id === id);
      return devices.deviceOf(verity ? verity.dataDeviceId : id);
    };
    const candidates: Array<{
      fs: (typeof config.storage.filesystems)[number];
      mountPoint: string;
      type: string;
    }> = [];
    for (const fs of config.storage.filesystems) {
      if (fs.mountPoint === undefined || fs.deviceId === undefined) continue;
      const mountPoint = normalizeMountPath(fs.mountPoint.path);
      // A finalize-only install has no image to say what it wrote, and an adopted filesystem may
      // be declared `auto`: the disk itself says.
      const declared = fs.type === 'auto' ? undefined : fs.type;
      const type =
        declared ??
        imageFsTypes[mountPoint] ??
        (await probeType(dataDeviceOf(fs.deviceId), signal)) ??
        (fs.source === 'adopted' ? 'auto' : 'ext4');
      candidates.push({ fs, mountPoint, type });
    }
    const filesystems = candidates
      .filter(({ type }) => !NOT_MOUNTED.has(type))
      // Parents before children: `/`, then `/var`, then `/var/lib/trident`.
      .sort((a, b) => depth(a.mountPoint) - depth(b.mountPoint) || a.mountPoint.localeCompare(b.mountPoint));
    if (!filesystems.some(({ mountPoint }) => mountPoint === '/'))
      throw new EngineError(
        'INVALID_INPUT_ERROR',
        'invalid-host-configuration',
        'the Host Configuration mounts no filesystem at /: there is no OS to configure',
        { code: 'ENGINE_NO_ROOT_FILESYSTEM' },
      );
    for (const { fs, mountPoint } of filesystems) {
      signal.throwIfAborted();
      const device = dataDeviceOf(fs.deviceId!);
      await waitForDevice(device, signal);
      const where = join(path, mountPoint);
      await mkdir(where, { recursive: true });
      const options = verityIds.has(fs.deviceId!) ? 'ro,noload' : 'rw';
      try {
        await runTool('mount', ['-o', options, device, where]);
      } catch (error) {
        throw wrapStep('SERVICING_ERROR', 'mount-new-root', `cannot mount ${device} at ${mountPoint}`, error);
      }
      mounted.push({ mountPoint, device, path: where });
      log('debug', `Mounted ${device} at ${mountPoint} (${options})`);
    }
    const root = filesystems.find(({ mountPoint }) => mountPoint === '/')!;
    if (verityIds.has(root.fs.deviceId!)) mounted.push(await mountEtcOverlay(path, log));
    const filesystemTypes = Object.fromEntries(candidates.map(({ mountPoint, type }) => [mountPoint, type]));
    return { path, mounted, filesystemTypes, deviceOf: devices.deviceOf, release };
  } catch (error) {
    await release().catch((releaseError: unknown) =>
      log('warn', releaseError instanceof Error ? releaseError.message : String(releaseError)),
    );
    throw error;
  }
}

/**
 * A verity root is read-only: as upstream does (`engine/etc_overlay.rs`), its /etc gets an overlay
 * whose upper and work directories live in /var/lib/trident-overlay, where the installed OS's fstab
 * mounts the same overlay at boot. Everything OS configuration writes to /etc lands there.
 */
async function mountEtcOverlay(root: string, log: Log): Promise<MountedFilesystem> {
  const base = join(root, OVERLAY_DIR, 'etc');
  await mkdir(join(base, 'upper'), { recursive: true });
  await mkdir(join(base, 'work'), { recursive: true });
  const etc = join(root, 'etc');
  const options = `lowerdir=${etc},upperdir=${join(base, 'upper')},workdir=${join(base, 'work')}`;
  try {
    await runTool('mount', ['-t', 'overlay', 'overlay', '-o', options, etc]);
  } catch (error) {
    throw wrapStep(
      'SERVICING_ERROR',
      'mount-new-root',
      `cannot mount the /etc overlay of the verity root`,
      error,
    );
  }
  log('debug', `Mounted an overlay on /etc (upper in ${OVERLAY_DIR}/etc/upper)`);
  return { mountPoint: '/etc', device: 'overlay', path: etc };
}

/** The filesystem type on a partition (`blkid -p`), or undefined when blkid finds none. */
async function probeType(device: string, signal: AbortSignal): Promise<string | undefined> {
  try {
    await waitForDevice(device, signal);
  } catch {
    return undefined; // mounting it reports the missing device with its mount point
  }
  const { stdout, exitCode } = await runTool('blkid', ['-p', '-o', 'value', '-s', 'TYPE', device], {
    okCodes: 'any',
  });
  const type = stdout.trim();
  return exitCode === 0 && type !== '' ? type : undefined;
}

/**
 * What the disk says each `source: adopted` filesystem declared `auto` is, by mount point as the
 * Host Configuration writes it: fstab names that type instead of `auto` (os-config's
 * `StorageLayout.adoptedFilesystemTypes`). Install and A/B update write the same fstab line.
 */
export function adoptedFilesystemTypes(config: HostConfiguration, newRoot: NewRoot): Record<string, string> {
  const types: Record<string, string> = {};
  for (const fs of config.storage.filesystems) {
    if (fs.source !== 'adopted' || fs.mountPoint === undefined) continue;
    const found = newRoot.filesystemTypes[normalizeMountPath(fs.mountPoint.path)];
    if (found !== undefined && found !== 'auto') types[fs.mountPoint.path] = found;
  }
  return types;
}

function depth(mountPoint: string): number {
  return mountPoint === '/' ? 0 : mountPoint.split('/').length - 1;
}
