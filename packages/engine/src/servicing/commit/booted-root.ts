/**
 * Which volume the host booted from, by block device (upstream's commit test; reference
 * servicing.md §8): the device mounted at `/` now, against the root device the Host Status expects
 * for the volume being committed. EFI variables are not trusted for this: a firmware that ignored
 * BootNext still mounts the old root, and that is what matters.
 */
import { readdir, readFile, realpath } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { AbVolume, HostStatus } from '@trident/datastore';
import type { HostConfiguration } from '@trident/host-config';
import { EngineError } from '../../errors.ts';

export interface SystemPaths {
  /** Default /proc: `self/mountinfo` and `cmdline` are read from it. */
  procDir?: string | undefined;
  /** Default /sys: `dev/block/<maj:min>`, `class/block/<dm>/slaves`, `firmware/efi/efivars`. */
  sysDir?: string | undefined;
}

/** The root device the Host Status names for `volume`: a partition path, or verity's data device. */
export interface ExpectedRoot {
  /** The Host Configuration id of the device (the A/B member or verity's data device). */
  deviceId: string;
  /** Its recorded path (`partitionPaths`), e.g. `/dev/disk/by-partuuid/…`. */
  path: string;
  /** The root filesystem is on dm-verity: `/` is a dm device over this data device. */
  verity: boolean;
}

/** Resolves an A/B pair id to the member on `volume`; other ids are themselves. */
function memberOn(config: HostConfiguration, id: string, volume: AbVolume): string {
  const pair = config.storage.abUpdate?.volumePairs.find((p) => p.id === id);
  if (pair === undefined) return id;
  return volume === 'volume-a' ? pair.volumeAId : pair.volumeBId;
}

/**
 * A root on a RAID array or an encrypted volume has no partition path: the installed OS names it
 * `/dev/md/<name>` (udev, from its mdadm.conf) or `/dev/mapper/<deviceName>` (crypttab), as
 * upstream's block-device paths do.
 */
function stackedPath(config: HostConfiguration, id: string): string | undefined {
  const array = config.storage.raid.software.find((r) => r.id === id);
  if (array !== undefined) return `/dev/md/${array.name}`;
  const volume = config.storage.encryption?.volumes.find((v) => v.id === id);
  return volume === undefined ? undefined : `/dev/mapper/${volume.deviceName}`;
}

export function expectedRoot(config: HostConfiguration, status: HostStatus, volume: AbVolume): ExpectedRoot {
  const rootFs = config.storage.filesystems.find((fs) => fs.mountPoint?.path === '/');
  if (rootFs?.deviceId === undefined)
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-host-configuration-static',
      'the recorded Host Configuration mounts no device at / (storage.filesystems): commit cannot tell which volume should have booted',
      { code: 'ENGINE_COMMIT_NO_ROOT' },
    );
  const verity = config.storage.verity.find((v) => v.id === rootFs.deviceId);
  const deviceId = memberOn(config, verity?.dataDeviceId ?? rootFs.deviceId, volume);
  const path = status.partitionPaths?.[deviceId] ?? stackedPath(config, deviceId);
  if (path === undefined)
    throw new EngineError(
      'SERVICING_ERROR',
      'datastore',
      `the Host Status records no path for '${deviceId}', the root device of ${volume} (partitionPaths has ${Object.keys(status.partitionPaths ?? {}).join(', ') || 'nothing'}), and it is no RAID array or encrypted volume`,
      { code: 'ENGINE_COMMIT_ROOT_UNKNOWN' },
    );
  return { deviceId, path, verity: verity !== undefined };
}

interface MountedRoot {
  source: string;
  majorMinor: string;
}

/** The last mount of `/` in mountinfo (later mounts hide earlier ones). */
export function parseRootMount(mountinfo: string): MountedRoot | undefined {
  let found: MountedRoot | undefined;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    if (separator < 0 || fields[4] !== '/') continue;
    found = { majorMinor: fields[2] ?? '', source: fields[separator + 2] ?? '' };
  }
  return found;
}

async function exists(path: string): Promise<string | undefined> {
  return realpath(path).catch(() => undefined);
}

function rootArgument(cmdline: string): string | undefined {
  const arg = cmdline
    .trim()
    .split(/\s+/u)
    .findLast((a) => a.startsWith('root='));
  if (arg === undefined) return undefined;
  const value = arg.slice('root='.length);
  if (value.startsWith('PARTUUID=')) return `/dev/disk/by-partuuid/${value.slice(9).toLowerCase()}`;
  if (value.startsWith('UUID=')) return `/dev/disk/by-uuid/${value.slice(5)}`;
  return value.startsWith('/') ? value : undefined;
}

/**
 * The canonical device of `/`: mountinfo's source when it is a device path, else the block device
 * of its major:minor (`/dev/root` is what the kernel calls a root mounted without an initramfs),
 * else the kernel command line's `root=`.
 */
export async function currentRootDevice(paths: SystemPaths = {}): Promise<string> {
  const proc = paths.procDir ?? '/proc';
  const sys = paths.sysDir ?? '/sys';
  const mountinfo = await readFile(join(proc, 'self/mountinfo'), 'utf8').catch(() => '');
  const mount = parseRootMount(mountinfo);
  if (mount !== undefined) {
    if (mount.source.startsWith('/') && mount.source !== '/dev/root') {
      const device = await exists(mount.source);
      if (device !== undefined) return device;
    }
    const block = await exists(join(sys, 'dev/block', mount.majorMinor));
    if (block !== undefined) {
      const device = await exists(join('/dev', basename(block)));
      if (device !== undefined) return device;
    }
  }
  const cmdline = await readFile(join(proc, 'cmdline'), 'utf8').catch(() => '');
  const fromCmdline = rootArgument(cmdline);
  const device = fromCmdline === undefined ? undefined : await exists(fromCmdline);
  if (device !== undefined) return device;
  throw new EngineError(
    'SERVICING_ERROR',
    'get-root-device',
    `cannot tell which device is mounted at /: no device source in ${join(proc, 'self/mountinfo')} (${mount ? `'${mount.source}', ${mount.majorMinor}` : 'no / mount'}) and no usable root= in ${join(proc, 'cmdline')}`,
    { code: 'ENGINE_COMMIT_ROOT_DEVICE' },
  );
}

/**
 * Whether `current` (canonical) is the expected root: the same device, or for verity a device-
 * mapper device built over it (its `slaves` in sysfs name the data device).
 */
export async function isExpectedRoot(
  current: string,
  expected: ExpectedRoot,
  paths: SystemPaths = {},
): Promise<boolean> {
  const target = await exists(expected.path);
  // A missing link (udev not done, a typo in the record) says nothing about what booted; calling it
  // the wrong root would throw the install away. Fail instead: the state stays for the next boot.
  if (target === undefined)
    throw new EngineError(
      'SERVICING_ERROR',
      'get-root-device',
      `the expected root device ${expected.path} (${expected.deviceId}) does not exist: cannot compare it with / (${current})`,
      { code: 'ENGINE_COMMIT_EXPECTED_ROOT_MISSING' },
    );
  if (target === current) return true;
  if (!expected.verity) return false;
  const slaves = await readdir(
    join(paths.sysDir ?? '/sys', 'class/block', basename(current), 'slaves'),
  ).catch(() => [] as string[]);
  return slaves.includes(basename(target));
}
