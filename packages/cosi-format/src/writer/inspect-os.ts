import { CosiError } from '../errors.ts';
import { partitionTypeInfo } from '../gpt/partition-types.ts';
import { type BootloaderInfo, detectBootloader } from './bootloader.ts';
import { createFsReader, type FsReader, withSeparateUsr } from './fs-reader.ts';
import { detectOsArch, fstabMountPoint, hostOsArch, parseFstab, readOsRelease } from './os-info.ts';
import { type PackageInfo, readOsPackages } from './packages.ts';
import type { ScannedDisk, ScannedPartition } from './scan-disk.ts';

export interface OsOverrides {
  osArch?: string;
  osRelease?: string;
  osPackages?: PackageInfo[];
  bootloader?: BootloaderInfo;
  /** Mount point per GPT partition number; wins over DPS types and fstab. */
  mountPoints?: Record<number, string>;
}

export interface OsFacts {
  osArch: string;
  osRelease: string;
  osPackages: PackageInfo[];
  bootloader: BootloaderInfo;
  /** Mount point per GPT partition number, for partitions that get a filesystem image. */
  mountPoints: Map<number, string>;
  rootPartition: number | undefined;
}

const kindOf = (p: ScannedPartition) => partitionTypeInfo(p.gpt.typeGuid)?.kind;

/**
 * Finds the root filesystem (DPS root type, else the first readable filesystem holding an
 * os-release file) and reads from it what the metadata needs. Every value can be overridden, and
 * must be when it cannot be found (e.g. an xfs root, which cannot be read without mounting).
 */
export async function inspectOs(
  image: string,
  disk: ScannedDisk,
  scratch: string,
  overrides: OsOverrides,
): Promise<OsFacts> {
  const readers = new Map<number, FsReader>();
  for (const p of disk.partitions) {
    const reader = p.fs ? createFsReader(image, p.offset, p.fs.fsType) : undefined;
    if (reader) readers.set(p.gpt.number, reader);
  }
  let root = disk.partitions.find((p) => kindOf(p) === 'root' && readers.has(p.gpt.number));
  if (root === undefined) {
    for (const p of disk.partitions) {
      const reader = readers.get(p.gpt.number);
      if (reader && reader.fsType !== 'vfat' && (await readOsRelease(reader)) !== undefined) {
        root = p;
        break;
      }
    }
  }
  const rootFsReader = root && readers.get(root.gpt.number);

  const fstab = parseFstab((await rootFsReader?.readFile('/etc/fstab'))?.toString('utf8') ?? '');
  const mountPoints = new Map<number, string>();
  for (const p of disk.partitions) {
    if (p.fs === undefined || p.verityHash) continue;
    const mountPoint =
      overrides.mountPoints?.[p.gpt.number] ??
      partitionTypeInfo(p.gpt.typeGuid)?.mountPoint ??
      fstabMountPoint(fstab, {
        fsUuid: p.fs.uuid,
        fsLabel: p.fs.label,
        partUuid: p.gpt.partitionGuid,
        partLabel: p.gpt.name,
      }) ??
      (p === root ? '/' : undefined);
    if (mountPoint !== undefined) mountPoints.set(p.gpt.number, mountPoint);
  }
  const seen = new Map<string, number>();
  for (const [number, mountPoint] of mountPoints) {
    const key = mountPoint.replace(/\/+$/u, '') || '/';
    const other = seen.get(key);
    if (other !== undefined) {
      // Trident rejects duplicate mount points (reference §2.3); A/B layouts need explicit choices.
      throw new CosiError(
        'COSI_BUILD_INPUT',
        `partitions ${other} and ${number} would both be mounted at ${mountPoint}; pass mountPoints to say which one the COSI describes`,
      );
    }
    seen.set(key, number);
  }

  // A /usr partition (a dm-verity /usr) holds what the OS facts are read from: os-release, binaries.
  const usrNumber = [...mountPoints].find(
    ([, mountPoint]) => mountPoint.replace(/\/+$/u, '') === '/usr',
  )?.[0];
  const usrReader = usrNumber === undefined ? undefined : readers.get(usrNumber);
  const rootReader =
    rootFsReader && usrReader && usrReader.fsType !== 'vfat'
      ? withSeparateUsr(rootFsReader, usrReader)
      : rootFsReader;
  const osRelease = overrides.osRelease ?? (rootReader && (await readOsRelease(rootReader)));
  if (osRelease === undefined) {
    throw new CosiError(
      'COSI_BUILD_INPUT',
      'no os-release found: no readable ext or vfat filesystem has /etc/os-release or /usr/lib/os-release; pass osRelease',
    );
  }
  const osArch = overrides.osArch ?? (rootReader && (await detectOsArch(rootReader))) ?? hostOsArch();
  const osPackages = overrides.osPackages ?? (rootReader ? await readOsPackages(rootReader, scratch) : []);

  const esp = disk.partitions.find((p) => kindOf(p) === 'esp' && readers.has(p.gpt.number));
  const boot = disk.partitions.find((p) => kindOf(p) === 'xbootldr' && readers.has(p.gpt.number));
  const bootloader =
    overrides.bootloader ??
    (await detectBootloader({
      ...(esp ? { esp: readers.get(esp.gpt.number)! } : {}),
      ...(boot ? { boot: readers.get(boot.gpt.number)! } : {}),
      ...(rootReader ? { root: rootReader } : {}),
    }));
  if (bootloader === undefined) {
    throw new CosiError(
      'COSI_BUILD_INPUT',
      'no bootloader found (no loader/entries/*.conf, EFI/Linux/*.efi, EFI/*/grub*.efi or /boot/grub*); pass bootloader',
    );
  }
  return { osArch, osRelease, osPackages, bootloader, mountPoints, rootPartition: root?.gpt.number };
}
