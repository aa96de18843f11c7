/** The UKI command-line check shared by install and A/B update, on minimal PE files. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BootTarget } from '../cmdline/compose.ts';
import { createMountedEsp } from '../esp/mounted-esp.ts';
import { fakeUki } from '../test-support/fake-uki.ts';
import { type Scratch, scratchDir } from '../test-support/fat-image.ts';
import { configureSystemdBoot } from './configure-systemd-boot.ts';
import { checkUkiCmdline, ukiCmdline } from './uki-cmdline.ts';

const FS = 'cccccccc-1111-4222-8333-444444444444';
const PART = 'dddddddd-0000-4000-8000-000000000001';
const volume = createMountedEsp('/nonexistent');
const check = (cmdline: string, target: BootTarget) =>
  checkUkiCmdline(volume, '/EFI/Linux/x.efi', fakeUki(cmdline), target);
const byPart: BootTarget = { root: { kind: 'partuuid', partUuid: PART } };

let scratch: Scratch;
beforeEach(async () => {
  scratch = await scratchDir();
});
afterEach(() => scratch.cleanup());

describe('checkUkiCmdline', () => {
  it('accepts root=UUID= of the filesystem written to the root, and only that one', () => {
    expect(check(`root=UUID=${FS} rw console=ttyS0`, { ...byPart, rootFsUuid: FS })).toBe(true);
    expect(check(`root=UUID=${FS.toUpperCase()} rw`, { ...byPart, rootFsUuid: FS })).toBe(true);
    expect(check(`root=PARTUUID=${PART} rw`, { ...byPart, rootFsUuid: FS })).toBe(true);
    expect(check('rw console=ttyS0', byPart)).toBe(true); // gpt-auto
    expect(() => check(`root=UUID=${FS} rw`, byPart)).toThrowError(
      expect.objectContaining({ code: 'BOOTCFG_UKI_CMDLINE_EMBEDDED' }),
    );
    expect(() =>
      check(`root=UUID=${FS} rw`, { ...byPart, rootFsUuid: 'eeeeeeee-1111-4222-8333-444444444444' }),
    ).toThrowError(/target layout needs "root=PARTUUID=/u);
    // A verity root is /dev/mapper/root, never a filesystem UUID.
    const verity: BootTarget = {
      root: { kind: 'verity', dataDevice: 'PARTUUID=a', hashDevice: 'PARTUUID=b', roothash: 'a'.repeat(64) },
      rootFsUuid: FS,
    };
    expect(() => check(`root=UUID=${FS}`, verity)).toThrowError(
      expect.objectContaining({ code: 'BOOTCFG_UKI_CMDLINE_EMBEDDED' }),
    );
  });

  it('says a file without a .linux section is no UKI', () => {
    expect(ukiCmdline(Buffer.from('MZ'))).toBeUndefined();
    expect(ukiCmdline(fakeUki('quiet'))).toBe('quiet');
  });
});

describe('configureSystemdBoot (install) with a UKI naming its root by filesystem UUID', () => {
  it('accepts it when the target says that is the root filesystem written', async () => {
    const dir = join(scratch.dir, 'esp');
    await mkdir(dir);
    const esp = createMountedEsp(dir);
    await esp.write('/EFI/Linux/vmlinuz-6.1.efi', fakeUki(`root=UUID=${FS} rw`));
    const result = await configureSystemdBoot({ esp, target: { ...byPart, rootFsUuid: FS } });
    expect(result.ukis).toEqual([`${dir}:/EFI/Linux/vmlinuz-6.1.efi`]);
    await expect(configureSystemdBoot({ esp, target: byPart })).rejects.toMatchObject({
      code: 'BOOTCFG_UKI_CMDLINE_EMBEDDED',
    });
  });
});
