/**
 * What the kernel command line of an installed OS must say so that it finds its root: the
 * arguments boot configuration owns, composed from the installed layout, applied over the image's
 * own command line. Upstream Trident's rules (osmodifier `modify_boot` and the GRUB subsystem):
 *
 * - root by partition: `root=` names the update volume's partition (volume A on install);
 * - root on dm-verity: `root=/dev/mapper/root` plus `rd.systemd.verity=1`,
 *   `systemd.verity_root_data=`, `systemd.verity_root_hash=` (and `_options=` for a corruption
 *   policy) so systemd's veritysetup generator opens it in the initrd; `roothash=` comes from the
 *   image unless given;
 * - /usr on dm-verity: the same with `usr` (`mount.usr=/dev/mapper/usr`, `usrhash=`);
 * - SELinux mode: `security=selinux selinux=1` (+ `enforcing=0` when permissive), `selinux=0`;
 * - a filesystem at /var/lib/trident-overlay: `rd.overlayfs=etc,etc/upper,etc/work,<device>`;
 * - `os.kernelCommandLine.extraCommandLine`: appended.
 */
import { BootConfigError } from '../errors.ts';
import { argName, parseCmdline, replaceArgs } from './kernel-cmdline.ts';

export type VerityCorruption = 'io-error' | 'ignore' | 'panic' | 'restart';

export type RootSelection =
  /** `root=PARTUUID=<uuid>`: a plain root partition (what Trident's A/B volume A resolves to). */
  | { kind: 'partuuid'; partUuid: string }
  /** `root=<path>`: a RAID array (`/dev/md/…`), an opened LUKS volume (`/dev/mapper/…`). */
  | { kind: 'device'; path: string }
  /** A dm-verity root opened in the initrd as `/dev/mapper/root`. */
  | {
      kind: 'verity';
      /** Device of the data and of the hash tree: `PARTUUID=…`, `/dev/disk/by-partuuid/…`, `/dev/md/…`. */
      dataDevice: string;
      hashDevice: string;
      /** Hex root hash; kept from the image's command line when not given. */
      roothash?: string;
      corruption?: VerityCorruption;
    };

export interface UsrVerity {
  dataDevice: string;
  hashDevice: string;
  usrhash?: string;
  corruption?: VerityCorruption;
}

export interface BootTarget {
  root: RootSelection;
  usrVerity?: UsrVerity;
  selinux?: 'enforcing' | 'permissive' | 'disabled';
  /** Device holding /var/lib/trident-overlay (the writable /etc of a verity root). */
  overlayDevice?: string;
  /** `os.kernelCommandLine.extraCommandLine`. */
  extraCommandLine?: readonly string[];
  /**
   * UUID of the filesystem image written to the root (COSI `fsUuid`): a UKI naming its root as
   * `root=UUID=<it>` boots the target. Composing never writes it (type #1 entries and grub get
   * `root=` from `root`).
   */
  rootFsUuid?: string;
}

const ROOT_ARGS = [
  'root',
  'roothash',
  'rd.systemd.verity',
  'systemd.verity_root_data',
  'systemd.verity_root_hash',
  'systemd.verity_root_options',
];
const USR_ARGS = [
  'mount.usr',
  'usrhash',
  'systemd.verity_usr_data',
  'systemd.verity_usr_hash',
  'systemd.verity_usr_options',
];
/** Arguments that say where the root (and /usr) come from: what a UKI may not get wrong. */
export const ROOT_SELECTION_ARGS: readonly string[] = [...ROOT_ARGS, ...USR_ARGS];
const SELINUX_ARGS = ['security', 'selinux', 'enforcing'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/iu;
const HEX = /^[0-9a-f]{64,128}$/iu;

/** Upstream's `format_corruption_option`: I/O errors are dm-verity's default and need no option. */
function corruptionOption(c: VerityCorruption | undefined): string | undefined {
  switch (c) {
    case undefined:
    case 'io-error':
      return undefined;
    case 'ignore':
      return 'ignore-corruption';
    case 'panic':
      return 'panic-on-corruption';
    case 'restart':
      return 'restart-on-corruption';
  }
}

function checkDevice(value: string, what: string): string {
  if (value === '' || /\s|"/u.test(value))
    throw new BootConfigError(
      'BOOTCFG_CMDLINE_INVALID',
      `${what} ${JSON.stringify(value)} is not a device name`,
    );
  return value;
}

function checkHash(value: string, what: string): string {
  if (!HEX.test(value))
    throw new BootConfigError(
      'BOOTCFG_CMDLINE_INVALID',
      `${what} ${JSON.stringify(value)} is not a hex hash`,
    );
  return value.toLowerCase();
}

/** The arguments the root selection owns, given the image's current ones (for the kept root hash). */
function rootArgs(current: readonly string[], root: RootSelection): string[] {
  switch (root.kind) {
    case 'partuuid':
      if (!UUID.test(root.partUuid))
        throw new BootConfigError(
          'BOOTCFG_CMDLINE_INVALID',
          `root PARTUUID ${JSON.stringify(root.partUuid)} is not a UUID`,
        );
      return [`root=PARTUUID=${root.partUuid.toLowerCase()}`];
    case 'device':
      return [`root=${checkDevice(root.path, 'root device')}`];
    case 'verity': {
      const kept = current.findLast((a) => argName(a) === 'roothash');
      const roothash = root.roothash === undefined ? kept?.slice('roothash='.length) : root.roothash;
      if (roothash === undefined)
        throw new BootConfigError(
          'BOOTCFG_CMDLINE_INVALID',
          'a dm-verity root needs its root hash: give roothash, or boot an image whose command line has roothash=',
        );
      const options = corruptionOption(root.corruption);
      return [
        'root=/dev/mapper/root',
        `roothash=${checkHash(roothash, 'root hash')}`,
        'rd.systemd.verity=1',
        `systemd.verity_root_data=${checkDevice(root.dataDevice, 'verity data device')}`,
        `systemd.verity_root_hash=${checkDevice(root.hashDevice, 'verity hash device')}`,
        ...(options === undefined ? [] : [`systemd.verity_root_options=${options}`]),
      ];
    }
  }
}

function usrArgs(current: readonly string[], usr: UsrVerity): string[] {
  const kept = current.findLast((a) => argName(a) === 'usrhash');
  const usrhash = usr.usrhash ?? kept?.slice('usrhash='.length);
  if (usrhash === undefined)
    throw new BootConfigError(
      'BOOTCFG_CMDLINE_INVALID',
      'a dm-verity /usr needs its hash: give usrhash, or boot an image whose command line has usrhash=',
    );
  const options = corruptionOption(usr.corruption);
  return [
    'mount.usr=/dev/mapper/usr',
    `usrhash=${checkHash(usrhash, 'usr hash')}`,
    'rd.systemd.verity=1',
    `systemd.verity_usr_data=${checkDevice(usr.dataDevice, 'usr verity data device')}`,
    `systemd.verity_usr_hash=${checkDevice(usr.hashDevice, 'usr verity hash device')}`,
    ...(options === undefined ? [] : [`systemd.verity_usr_options=${options}`]),
  ];
}

/** Upstream osmodifier `update_grub_cmdline`. */
function selinuxArgs(mode: NonNullable<BootTarget['selinux']>): string[] {
  switch (mode) {
    case 'enforcing':
      return ['security=selinux', 'selinux=1'];
    case 'permissive':
      return ['security=selinux', 'selinux=1', 'enforcing=0'];
    case 'disabled':
      return ['selinux=0'];
  }
}

/**
 * The image's command line `current` with the arguments for `target`. Arguments it does not own
 * (console, quiet, …) keep their place. Composing twice gives the same result: extra arguments
 * already present are not added again (upstream appends them to GRUB_CMDLINE_LINUX_DEFAULT once
 * per servicing, from a fresh image, so it never sees them twice).
 */
export function composeCmdline(current: readonly string[], target: BootTarget): string[] {
  const owned = [...ROOT_ARGS, ...(target.usrVerity === undefined ? [] : USR_ARGS)];
  const added = rootArgs(current, target.root);
  if (target.usrVerity !== undefined)
    added.push(...usrArgs(current, target.usrVerity).filter((a) => !added.includes(a)));
  let args = replaceArgs(current, owned, added);
  // A verity root is read-only: systemd would fail to remount it rw.
  if (target.root.kind === 'verity') args = [...args.filter((a) => a !== 'rw' && a !== 'ro'), 'ro'];
  if (target.selinux !== undefined) args = replaceArgs(args, SELINUX_ARGS, selinuxArgs(target.selinux));
  if (target.overlayDevice !== undefined)
    args = replaceArgs(
      args,
      ['rd.overlayfs'],
      [`rd.overlayfs=etc,etc/upper,etc/work,${checkDevice(target.overlayDevice, 'overlay device')}`],
    );
  for (const extra of target.extraCommandLine ?? [])
    for (const arg of parseCmdline(extra, 'os.kernelCommandLine.extraCommandLine'))
      if (!args.includes(arg)) args.push(arg);
  return args;
}
