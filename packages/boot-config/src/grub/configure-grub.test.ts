/**
 * grub configuration: the fixture OS's grub.cfg and early config (from the code that builds the
 * bootable grub fixture), a grub-mkconfig-shaped file with recovery entries, upstream's two ESP
 * `search` forms, and /etc/default/grub, on a directory tree and a real FAT ESP image.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { grubFiles, kernelCmdline } from '@trident/test-support/vm-fixture-boot';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createImageEsp } from '../esp/image-esp.ts';
import { makeFatImage, mtype, type Scratch, scratchDir, writeTree } from '../test-support/fat-image.ts';
import { configureGrub } from './configure-grub.ts';
import { updateDefaultGrub } from './default-grub.ts';
import { replaceFsUuids, rewriteGrubLinuxLines, updateGrubSearch } from './grub-cfg.ts';

const OLD_ROOT = '0b5e5c2e-2c8f-4b43-9a8b-3d5c3f0e2a11';
const NEW_ROOT = '5f1b7a52-9d5e-4c47-8a53-2f1e0c6b9d70';
const BOOT_FS = '9d1c0e7a-3b2f-4f4e-8c1d-2a3b4c5d6e7f';
const NEW_BOOT_FS = 'c0ffee00-1111-4222-8333-444455556666';
const HASH = 'b'.repeat(64);
const PLAN = {
  kernelVersion: '6.1.0-57-cloud-amd64',
  baseCmdline: 'console=ttyS0,115200 quiet',
  rootPartUuid: OLD_ROOT,
};

/** The shape grub-mkconfig (10_linux) writes on Debian: a normal and a recovery entry. */
const MKCONFIG = `### BEGIN /etc/grub.d/10_linux ###
menuentry 'Debian GNU/Linux' --class debian {
\tload_video
\tinsmod gzio
\tsearch --no-floppy --fs-uuid --set=root ${BOOT_FS}
\techo\t'Loading Linux 6.1.0-57-cloud-amd64 ...'
\tlinux\t/vmlinuz-6.1.0-57-cloud-amd64 root=PARTUUID=${OLD_ROOT} ro  console=ttyS0 quiet
\tinitrd\t/initrd.img-6.1.0-57-cloud-amd64
}
submenu 'Advanced options for Debian GNU/Linux' {
\tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-57-cloud-amd64 (recovery mode)' {
\t\tsearch --no-floppy --fs-uuid --set=root ${BOOT_FS}
\t\tlinux\t/vmlinuz-6.1.0-57-cloud-amd64 root=PARTUUID=${OLD_ROOT} ro single
\t\tinitrd\t/initrd.img-6.1.0-57-cloud-amd64
\t}
}
### END /etc/grub.d/10_linux ###`;

let scratch: Scratch;
beforeEach(async () => {
  scratch = await scratchDir();
});
afterEach(() => scratch.cleanup());

describe('grub.cfg edits', () => {
  it('gives every kernel line the new root, extras only to normal entries', () => {
    const edit = rewriteGrubLinuxLines(MKCONFIG, 'grub.cfg', {
      root: { kind: 'partuuid', partUuid: NEW_ROOT },
      extraCommandLine: ['panic=30'],
    });
    expect(edit.linuxLines).toBe(2);
    expect(edit.text).toBe(
      MKCONFIG.replace(
        `root=PARTUUID=${OLD_ROOT} ro  console=ttyS0 quiet`,
        `root=PARTUUID=${NEW_ROOT} ro console=ttyS0 quiet panic=30`,
      ).replace(`root=PARTUUID=${OLD_ROOT} ro single`, `root=PARTUUID=${NEW_ROOT} ro single`),
    );
    expect(() =>
      rewriteGrubLinuxLines('set timeout=0\n', 'x/grub.cfg', { root: { kind: 'device', path: '/dev/sda2' } }),
    ).toThrowError(/x\/grub\.cfg has no "linux" line/u);
  });

  it("points the ESP search at /boot in both of upstream's forms", () => {
    expect(updateGrubSearch(`search -n -u ${BOOT_FS} -s\nconfigfile x\n`, 'e', NEW_BOOT_FS)).toBe(
      `search -n -u ${NEW_BOOT_FS} -s\nconfigfile x\n`,
    );
    const early = grubFiles(PLAN, 't', BOOT_FS, '').early;
    expect(updateGrubSearch(early, 'e', NEW_BOOT_FS)).toBe(early.replace(BOOT_FS, NEW_BOOT_FS));
    expect(updateGrubSearch('search -n -u x -s\n', 'e', 'ABCD-1234')).toBe('search -n -u ABCD-1234 -s\n');
    expect(() => updateGrubSearch('configfile x\n', 'esp:/EFI/AZLA/grub.cfg', NEW_BOOT_FS)).toThrowError(
      /no "search -n -u/u,
    );
    expect(() => updateGrubSearch(early, 'e', 'nope')).toThrowError(/not a filesystem UUID/u);
  });

  it('replaces changed filesystem UUIDs in search commands and UUID= only', () => {
    const text = `search --no-floppy --fs-uuid --set=root ${BOOT_FS}\nlinux /v root=UUID=${BOOT_FS}\necho ${BOOT_FS}\n`;
    expect(replaceFsUuids(text, { [BOOT_FS]: NEW_BOOT_FS })).toBe(
      `search --no-floppy --fs-uuid --set=root ${NEW_BOOT_FS}\nlinux /v root=UUID=${NEW_BOOT_FS}\necho ${BOOT_FS}\n`,
    );
  });

  it('keeps /etc/default/grub in step, as upstream osmodifier does', () => {
    const before =
      'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="console=ttyS0 selinux=0"\n';
    expect(
      updateDefaultGrub(before, {
        root: {
          kind: 'verity',
          dataDevice: '/dev/disk/by-partuuid/d',
          hashDevice: '/dev/disk/by-partuuid/h',
          roothash: HASH,
        },
        selinux: 'enforcing',
        extraCommandLine: ['panic=30', 'quiet'],
      }),
    ).toBe(
      [
        'GRUB_DEFAULT=0',
        'GRUB_CMDLINE_LINUX_DEFAULT="quiet panic=30"',
        `GRUB_CMDLINE_LINUX="console=ttyS0 security=selinux selinux=1 roothash=${HASH} rd.systemd.verity=1 systemd.verity_root_data=/dev/disk/by-partuuid/d systemd.verity_root_hash=/dev/disk/by-partuuid/h ro"`,
        'GRUB_DEVICE="/dev/mapper/root"',
        '',
      ].join('\n'),
    );
  });
});

describe('configureGrub', () => {
  it('configures the fixture layout: /boot/grub/grub.cfg in the root, the ESP search, /etc/default/grub', async () => {
    const rootDir = join(scratch.dir, 'root');
    const files = grubFiles(PLAN, 'fixture', BOOT_FS, '/boot');
    await writeTree(rootDir, {
      'boot/grub/grub.cfg': files.grubCfg,
      'etc/default/grub': 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n',
    });
    const esp = join(scratch.dir, 'esp.img');
    await makeFatImage(esp, { 'EFI/AZLA/grub.cfg': files.early });
    const result = await configureGrub({
      rootDir,
      target: { root: { kind: 'partuuid', partUuid: NEW_ROOT }, extraCommandLine: ['panic=30'] },
      esp: { volume: createImageEsp({ image: esp }), grubCfg: '/EFI/AZLA/grub.cfg', bootFsUuid: NEW_BOOT_FS },
    });
    expect(await readFile(join(rootDir, 'boot/grub/grub.cfg'), 'utf8')).toBe(
      files.grubCfg.replace(
        kernelCmdline(PLAN),
        `root=PARTUUID=${NEW_ROOT} rw console=ttyS0,115200 quiet panic=30`,
      ),
    );
    expect(await mtype(esp, '/EFI/AZLA/grub.cfg')).toBe(files.early.replace(BOOT_FS, NEW_BOOT_FS));
    expect(await readFile(join(rootDir, 'etc/default/grub'), 'utf8')).toBe(
      `GRUB_CMDLINE_LINUX_DEFAULT="quiet panic=30"\nGRUB_CMDLINE_LINUX=""\nGRUB_DEVICE="/dev/disk/by-partuuid/${NEW_ROOT}"\n`,
    );
    expect(result.changed.map((c) => c.path)).toEqual([
      '/grub/grub.cfg',
      '/etc/default/grub',
      '/EFI/AZLA/grub.cfg',
    ]);
  });

  it('keeps the image root hash of a verity root on a separate /boot (grub2 layout)', async () => {
    const rootDir = join(scratch.dir, 'root');
    const bootDir = join(scratch.dir, 'boot');
    await mkdir(rootDir);
    const plan = { ...PLAN, verity: { roothash: HASH, hashPartUuid: 'old-hash' } };
    await writeTree(bootDir, { 'grub2/grub.cfg': grubFiles(plan, 'fixture', BOOT_FS, '').grubCfg });
    await configureGrub({
      rootDir,
      bootDir,
      target: {
        root: { kind: 'verity', dataDevice: `PARTUUID=${NEW_ROOT}`, hashDevice: 'PARTUUID=new-hash' },
      },
      fsUuidChanges: {},
    });
    const cfg = await readFile(join(bootDir, 'grub2/grub.cfg'), 'utf8');
    expect(cfg).toContain(
      `linux /vmlinuz-6.1.0-57-cloud-amd64 root=/dev/mapper/root roothash=${HASH} rd.systemd.verity=1 systemd.verity_root_data=PARTUUID=${NEW_ROOT} systemd.verity_root_hash=PARTUUID=new-hash console=ttyS0,115200 quiet ro\n`,
    );
    await writeFile(join(bootDir, 'grub2/grub.cfg'), '');
    await expect(
      configureGrub({
        rootDir: join(scratch.dir, 'none'),
        target: { root: { kind: 'device', path: '/dev/sda2' } },
      }),
    ).rejects.toMatchObject({ code: 'BOOTCFG_NOT_FOUND' });
  });
});
