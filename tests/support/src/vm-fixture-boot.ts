/**
 * Boot configuration of the fixture OS disks: systemd-boot (Boot Loader Specification entry on the
 * ESP or an XBOOTLDR /boot) or grub (an EFI image with an embedded search for the filesystem
 * holding /boot, then grub.cfg), or systemd-boot with a standalone UKI (vm-fixture-uki.ts). Type #1
 * entries and grub find the root by PARTUUID, or open a dm-verity root from the kernel command line
 * the way upstream Trident's images do (systemd-veritysetup in the initrd); a dm-verity /usr is
 * opened the same way and mounted by systemd-fstab-generator's `mount.usr=`. A UKI finds the root by
 * its filesystem UUID: its command line is fixed at build time, and install gives the root
 * partition a new PARTUUID but writes the image's filesystem (and its UUID) unchanged.
 */
export interface BootPlan {
  kernelVersion: string;
  /** Kernel command line without root selection. */
  baseCmdline: string;
  rootPartUuid: string;
  /** Set for a UKI: the root is found by this filesystem UUID instead of its PARTUUID. */
  rootFsUuid?: string;
  verity?: { roothash: string; hashPartUuid: string };
  /** /usr on its own dm-verity data partition (the root stays a writable partition). */
  usrVerity?: { usrhash: string; dataPartUuid: string; hashPartUuid: string };
}

/**
 * systemd 252's generators, both in the initrd: systemd-veritysetup-generator opens `usr` from
 * `usrhash=` and the data/hash devices; systemd-fstab-generator mounts `mount.usr=` at /sysusr/usr
 * and binds it to /sysroot/usr before switch-root. Without `mount.usrflags=ro` /usr would get the
 * root's `rw`, which a verity device cannot give.
 */
function usrVerityArgs(usr: NonNullable<BootPlan['usrVerity']>): string[] {
  return [
    'mount.usr=/dev/mapper/usr',
    'mount.usrfstype=ext4',
    'mount.usrflags=ro',
    `usrhash=${usr.usrhash}`,
    'rd.systemd.verity=1',
    `systemd.verity_usr_data=PARTUUID=${usr.dataPartUuid}`,
    `systemd.verity_usr_hash=PARTUUID=${usr.hashPartUuid}`,
  ];
}

export function kernelCmdline(plan: BootPlan): string {
  const root =
    plan.verity === undefined
      ? [
          plan.rootFsUuid === undefined
            ? `root=PARTUUID=${plan.rootPartUuid}`
            : `root=UUID=${plan.rootFsUuid}`,
          'rw',
        ]
      : [
          'root=/dev/mapper/root',
          'ro',
          `roothash=${plan.verity.roothash}`,
          'rd.systemd.verity=1',
          `systemd.verity_root_data=PARTUUID=${plan.rootPartUuid}`,
          `systemd.verity_root_hash=PARTUUID=${plan.verity.hashPartUuid}`,
        ];
  const usr = plan.usrVerity === undefined ? [] : usrVerityArgs(plan.usrVerity);
  return [...root, ...usr, plan.baseCmdline].join(' ').trim();
}

/** Files of a systemd-boot layout: on the ESP and in the directory holding the entries and kernels. */
export function systemdBootFiles(
  plan: BootPlan,
  title: string,
): { esp: Record<string, string>; entries: Record<string, string> } {
  const k = plan.kernelVersion;
  return {
    esp: {
      'loader/loader.conf': 'timeout 0\ndefault trident-fixture.conf\neditor no\nconsole-mode keep\n',
    },
    entries: {
      'loader/entries/trident-fixture.conf': [
        `title ${title}`,
        `version ${k}`,
        `linux /vmlinuz-${k}`,
        `initrd /initrd.img-${k}`,
        `options ${kernelCmdline(plan)}`,
        '',
      ].join('\n'),
    },
  };
}

/**
 * systemd-boot for a UKI: no entries and no `default`, so systemd-boot boots `LoaderEntryOneShot`,
 * else `LoaderEntryDefault`, else its first entry, the choices an A/B update of UKIs makes.
 */
export const UKI_LOADER_CONF = 'timeout 0\neditor no\nconsole-mode keep\n';

/** Modules built into the grub EFI image (GPT, FAT and ext4, search by UUID, Linux EFI boot). */
export const GRUB_MODULES = [
  'part_gpt',
  'fat',
  'ext2',
  'normal',
  'linux',
  'configfile',
  'search',
  'search_fs_uuid',
  'echo',
  'test',
  'efi_gop',
  'all_video',
  'gzio',
];

/**
 * grub: the embedded early configuration finds the filesystem holding /boot by its UUID and loads
 * its grub.cfg; `bootDir` is `/boot` when /boot is a directory of the root, `` when it is a
 * partition of its own.
 */
export function grubFiles(
  plan: BootPlan,
  title: string,
  bootFsUuid: string,
  bootDir: '/boot' | '',
): { early: string; grubCfg: string } {
  const k = plan.kernelVersion;
  return {
    early: [
      `search --no-floppy --fs-uuid --set=root ${bootFsUuid}`,
      `set prefix=($root)${bootDir}/grub`,
      'configfile $prefix/grub.cfg',
      '',
    ].join('\n'),
    grubCfg: [
      'set timeout=0',
      'set default=0',
      `menuentry '${title}' {`,
      `  linux ${bootDir}/vmlinuz-${k} ${kernelCmdline(plan)}`,
      `  initrd ${bootDir}/initrd.img-${k}`,
      '}',
      '',
    ].join('\n'),
  };
}
