import { expect, test } from 'vitest';
import { peSections } from './bootloader.ts';
import { elfArch, fstabMountPoint, parseFstab } from './os-info.ts';
import { parseDpkgStatus, parseRpmHeaderBlob } from './packages.ts';
import { probeFilesystemBytes } from './probe-fs.ts';

test('dpkg status: installed only; epoch kept in version, revision becomes release', () => {
  const text = [
    'Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:2.3-4ubuntu1\nDescription: x\n more',
    'Package: b\nStatus: install ok installed\nArchitecture: all\nVersion: 20240101',
    'Package: c\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1-1',
  ].join('\n\n');
  expect(parseDpkgStatus(text)).toEqual([
    { name: 'a', version: '1:2.3', release: '4ubuntu1', arch: 'amd64' },
    { name: 'b', version: '20240101', release: '', arch: 'all' },
  ]);
});

test('rpm header blob without NAME is skipped', () => {
  expect(parseRpmHeaderBlob(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0]))).toBeUndefined();
});

test('fstab: UUID=, PARTUUID=, LABEL=, PARTLABEL= and /dev/disk/by-* all match; swap is ignored', () => {
  const entries = parseFstab(
    [
      'UUID="AAAA-BBBB" /boot/efi vfat defaults 0 2',
      'PARTUUID=11111111-2222-3333-4444-555555555555 /var ext4 defaults 0 2',
      'LABEL=home /home ext4 defaults',
      '/dev/disk/by-partlabel/srv /srv\\040data ext4 defaults',
      'UUID=cccc none swap sw',
    ].join('\n'),
  );
  const id = { fsUuid: undefined, fsLabel: undefined, partUuid: '', partLabel: '' };
  expect(fstabMountPoint(entries, { ...id, fsUuid: 'aaaa-bbbb' })).toBe('/boot/efi');
  expect(fstabMountPoint(entries, { ...id, partUuid: '11111111-2222-3333-4444-555555555555' })).toBe('/var');
  expect(fstabMountPoint(entries, { ...id, fsLabel: 'home' })).toBe('/home');
  expect(fstabMountPoint(entries, { ...id, partLabel: 'srv' })).toBe('/srv data');
  expect(fstabMountPoint(entries, { ...id, fsUuid: 'cccc' })).toBeUndefined();
});

test('ELF e_machine gives osArch', () => {
  const elf = new Uint8Array(64);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1]);
  elf[18] = 183;
  expect(elfArch(elf)).toBe('arm64');
  elf[18] = 62;
  expect(elfArch(elf)).toBe('x86_64');
  expect(elfArch(new Uint8Array(64))).toBeUndefined();
});

test('non-PE bytes have no sections; empty probes find no filesystem', () => {
  expect(peSections(new Uint8Array(100)).size).toBe(0);
  expect(probeFilesystemBytes(new Uint8Array(0x11000))).toBeUndefined();
});
