/** Options and results of fixture OS disks (vm-fixture.ts builds them, vm-fixture-assemble.ts lays them out). */
import type { FixtureFlavour } from './vm-fixture-rootfs.ts';

export const PART_TYPES = {
  esp: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b',
  xbootldr: 'bc13c2ff-59e6-4262-a352-b275fd6f7172',
  root: '4f68bce3-e8cd-4db1-96e7-fbcaf984b709',
  rootVerity: '2c7357ed-ebd2-46d9-aec1-23d437ec2bf5',
  var: '4d21b016-b534-45c2-a9fb-5c16e091fd2d',
  usr: '8484680c-9521-48c6-9c11-b0720656f69e',
  usrVerity: '77ff5f63-e7b6-4633-acf4-1565b864c0e6',
} as const;

export type FixtureBootloader = 'systemd-boot' | 'grub' | 'uki';

export interface OsFixtureOptions {
  /** Package set (default `minimal`). */
  flavour?: FixtureFlavour;
  /**
   * Default `systemd-boot` (a type #1 entry). `uki`: systemd-boot with no entries and no default,
   * and one standalone Unified Kernel Image `EFI/Linux/vmlinuz-<kernel>.efi` on the ESP whose
   * embedded command line finds the root by its filesystem UUID (each build has its own). Not with
   * `verity`, `usrVerity` or `separateBoot`.
   */
  bootloader?: FixtureBootloader;
  /** /boot on its own partition (XBOOTLDR: vfat for systemd-boot, ext4 for grub). */
  separateBoot?: boolean;
  /** Read-only root on dm-verity with a hash partition and a writable /var partition. */
  verity?: boolean;
  /**
   * /usr on its own partition under dm-verity (device `usr`, hash partition after it, `ro`), the
   * root a writable ext4 keeping Debian's merged-/usr symlinks and an empty /usr, as upstream's
   * usr-verity images are laid out. Not with `verity`.
   */
  usrVerity?: boolean;
  /** Size of the /usr partition with `usrVerity` (default 512 MiB, 768 MiB for `full`: its /usr holds about 360 MiB). */
  usrMiB?: number;
  /** os-release VERSION_ID of this build (default: Debian's). */
  versionId?: string;
  /** Default `trident-fixture`. */
  hostname?: string;
  /** The agent .deb to install (required for and only used by the `full` flavour). */
  agentDeb?: string;
  espMiB?: number;
  rootMiB?: number;
  /** Extra kernel command line (with `uki`: embedded in the UKI). */
  cmdline?: string;
}

export interface FixturePartition {
  number: number;
  role: 'esp' | 'boot' | 'root' | 'root-hash' | 'var' | 'usr' | 'usr-hash';
  typeGuid: string;
  partUuid: string;
  fsType?: 'vfat' | 'ext4';
  fsUuid?: string;
  offset: number;
  size: number;
}

export interface OsFixture {
  name: string;
  key: string;
  /** The disk image in the cache: boot it with `snapshot: true` or copy it, never write it. */
  disk: string;
  diskSize: number;
  /** The COSI made from it by `trident cosi build`, and its metadata SHA-384. */
  cosi: string;
  cosiSha384: string;
  flavour: FixtureFlavour;
  bootloader: FixtureBootloader;
  versionId: string;
  hostname: string;
  kernelVersion: string;
  cmdline: string;
  partitions: FixturePartition[];
  roothash?: string;
  /** The UKI's name in `EFI/Linux` on the ESP (bootloader `uki`): systemd-boot's entry id for it. */
  uki?: string;
  /** The /usr verity root hash (`usrVerity`). */
  usrhash?: string;
}

export type ResolvedFixtureOptions = Required<Omit<OsFixtureOptions, 'agentDeb' | 'versionId' | 'cmdline'>> &
  OsFixtureOptions;
