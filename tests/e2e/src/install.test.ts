import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCosi } from '@trident/cosi-format';
import { componentAvailable } from '@trident/test-support/component';
import { createDemoDiskImage, type DemoDiskImage } from '@trident/test-support/disk-image';
import { createLoopScope, loopDeviceSupport } from '@trident/test-support/loop-device';
import { type NginxServer, startNginx } from '@trident/test-support/nginx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debugfsCat, exec, extractRange, hashRange, sgdiskClean } from './disk-checks.ts';
import { trident } from './run-cli.ts';

const MiB = 1024 * 1024;
const loops = createLoopScope();
const loopSupport = loopDeviceSupport();
const loopsAvailable = componentAvailable(
  loopSupport.available,
  'loop-device install',
  'reason' in loopSupport ? loopSupport.reason : '',
);

let dir: string;
let nginx: NginxServer;
let plain: DemoDiskImage;
let verity: DemoDiskImage;
let plainSha: string;
let veritySha: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trident-install-'));
  nginx = await startNginx();
  plain = await createDemoDiskImage({ path: join(dir, 'plain.img'), sizeMiB: 512, espMiB: 64, rootMiB: 256 });
  plainSha = (await buildCosi({ input: plain.path, output: join(nginx.root, 'plain.cosi') })).metadataSha384;
  verity = await createDemoDiskImage({
    path: join(dir, 'verity.img'),
    sizeMiB: 512,
    espMiB: 64,
    rootMiB: 256,
    withVerity: true,
    dataMiB: 32,
    dataMountPoint: '/boot',
  });
  veritySha = (
    await buildCosi({ input: verity.path, output: join(nginx.root, 'verity.cosi'), verity: verity.verity! })
  ).metadataSha384;
});

afterAll(async () => {
  await loops.cleanup();
  await nginx?.stop();
  await rm(dir, { recursive: true, force: true });
});

function abConfig(url: string, sha: string): string {
  return `image:
  url: ${url}
  sha384: ${sha}
storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: 64M }
        - { id: root-a, type: root, size: 384M }
        - { id: root-b, type: root, size: 384M }
        - { id: swap, type: swap, size: 32M }
        - { id: trident, size: 64M }
        - { id: data, size: grow }
  abUpdate:
    volumePairs:
      - { id: root, volumeAId: root-a, volumeBId: root-b }
  filesystems:
    - deviceId: esp
      mountPoint: { path: /boot/efi, options: umask=0077 }
    - deviceId: root
      mountPoint: /
    - deviceId: trident
      source: new
      mountPoint: /var/lib/trident
    - deviceId: data
      source: new
      type: vfat
      mountPoint: /srv
  swap:
    - swap
`;
}

function verityConfig(url: string, sha: string): string {
  return `image:
  url: ${url}
  sha384: ${sha}
storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: 64M }
        - { id: root-data, type: root, size: 256M }
        - { id: root-hash, type: root-verity, size: 8M }
        - { id: boot, type: xbootldr, size: 64M }
        - { id: trident, size: 64M }
        - { id: var, type: var, size: grow }
  verity:
    - { id: root, name: root, dataDeviceId: root-data, hashDeviceId: root-hash }
  filesystems:
    - deviceId: esp
      mountPoint: { path: /boot/efi, options: umask=0077 }
    - deviceId: root
      mountPoint: { path: /, options: ro }
    - deviceId: boot
      mountPoint: /boot
    - deviceId: trident
      source: new
      mountPoint: /var/lib/trident
    - deviceId: var
      source: new
      mountPoint: /var
`;
}

async function partitions(
  path: string,
): Promise<Array<{ number: number; offset: number; size: number; name: string }>> {
  const { stdout } = await exec('sfdisk', ['--json', path]);
  const table = JSON.parse(stdout).partitiontable as {
    partitions: Array<{ start: number; size: number; name: string }>;
  };
  return table.partitions.map((p, i) => ({
    number: i + 1,
    offset: p.start * 512,
    size: p.size * 512,
    name: p.name,
  }));
}

describe('trident install', () => {
  it('installs A/B volume A, new ext4 and vfat, and swap into a disk-image file', async () => {
    const config = join(dir, 'ab.yaml');
    await writeFile(config, abConfig(`${nginx.url}/plain.cosi`, plainSha));
    const target = join(dir, 'ab-disk.img');
    const result = trident(['install', config, '--disk', `os=image:${target}:1500M`]);
    expect(result.stderr).not.toMatch(/error/iu);
    expect(result.code).toBe(0);
    expect((await sgdiskClean(target)).ok).toBe(true);
    const parts = await partitions(target);
    expect(parts.map((p) => p.name)).toEqual(['esp', 'root-a', 'root-b', 'swap', 'trident', 'data']);
    const [esp, rootA, rootB, swap, tridentPart, data] = parts as [
      (typeof parts)[0],
      (typeof parts)[0],
      (typeof parts)[0],
      (typeof parts)[0],
      (typeof parts)[0],
      (typeof parts)[0],
    ];
    // ESP written raw from the image; volume A holds the root, grown to its 384 MiB; volume B untouched.
    expect(await hashRange(target, esp.offset, plain.esp.size)).toBe(
      await hashRange(plain.path, plain.esp.offset, plain.esp.size),
    );
    const rootCopy = join(dir, 'ab-root.img');
    await extractRange(target, rootA.offset, rootA.size, rootCopy);
    await exec('e2fsck', ['-fn', rootCopy]);
    expect(await debugfsCat(rootCopy, '/etc/os-release')).toContain('Demo Linux');
    expect(
      Number(/Block count:\s+(\d+)/u.exec((await exec('dumpe2fs', ['-h', rootCopy])).stdout)?.[1]) * 4096,
    ).toBe(rootA.size);
    expect(await hashRange(target, rootB.offset, MiB)).toBe(await hashRange('/dev/zero', 0, MiB));
    const probe = async (p: { offset: number }) =>
      (
        await exec('blkid', ['-p', '-O', String(p.offset), '-o', 'value', '-s', 'TYPE', target])
      ).stdout.trim();
    expect(await probe(swap)).toBe('swap');
    expect(await probe(tridentPart)).toBe('ext4');
    expect(await probe(data)).toBe('vfat');
    const ext = join(dir, 'ab-trident.img');
    await extractRange(target, tridentPart.offset, tridentPart.size, ext);
    await exec('e2fsck', ['-fn', ext]);
  });

  it('installs a verity root: data and hash trees land in their partitions and verify', async () => {
    const config = join(dir, 'verity.yaml');
    await writeFile(config, verityConfig(`${nginx.url}/verity.cosi`, veritySha));
    let device: string;
    if (loopsAvailable) {
      const backing = join(dir, 'verity-loop.img');
      await exec('truncate', ['-s', '1G', backing]);
      const loop = await loops.attach(backing);
      device = loop.path;
      const result = trident(['install', config, '--disk', `os=${device}`]);
      expect(result.stderr).not.toMatch(/error/iu);
      expect(result.code).toBe(0);
    } else {
      device = join(dir, 'verity-disk.img');
      const result = trident(['install', config, '--disk', `os=image:${device}:1G`]);
      expect(result.code).toBe(0);
    }
    expect((await sgdiskClean(device)).ok).toBe(true);
    const parts = await partitions(device);
    const data = join(dir, 'v-data.img');
    const hash = join(dir, 'v-hash.img');
    await extractRange(device, parts[1]!.offset, verity.root.size, data);
    await extractRange(device, parts[2]!.offset, parts[2]!.size, hash);
    await exec('veritysetup', ['verify', data, hash, verity.verity!.roothash]);
    for (const index of [3, 4, 5]) {
      const copy = join(dir, `v-part-${index}.img`);
      await extractRange(device, parts[index]!.offset, parts[index]!.size, copy);
      await exec('e2fsck', ['-fn', copy]);
      await rm(copy);
    }
  });

  it('stream-disk writes a verity image faithfully: the hash tree still verifies the data', async () => {
    const target = join(dir, 'verity-stream.img');
    const result = trident([
      'stream-disk',
      `${nginx.url}/verity.cosi`,
      '--hash',
      `sha384:${veritySha}`,
      '--target-image',
      target,
    ]);
    expect(result.code).toBe(0);
    expect((await sgdiskClean(target)).ok).toBe(true);
    const data = join(dir, 'vs-data.img');
    const hash = join(dir, 'vs-hash.img');
    const [, dataPart, hashPart] = verity.partitions as [
      unknown,
      { offset: number; size: number },
      { offset: number; size: number },
    ];
    await extractRange(target, dataPart.offset, dataPart.size, data);
    await extractRange(target, hashPart.offset, hashPart.size, hash);
    await exec('veritysetup', ['verify', data, hash, verity.verity!.roothash]);
    // Verity data is never resized, even with resize on: that would break the hash tree.
    expect(await hashRange(target, dataPart.offset, dataPart.size)).toBe(
      await hashRange(verity.path, dataPart.offset, dataPart.size),
    );
  });

  it('refuses what it does not apply yet, naming it and why, before touching any disk', async () => {
    // Health checks, RAID, encryption and extensions are applied now; the management OS's own
    // users and network are still refused.
    const config = join(dir, 'management-os.yaml');
    await writeFile(
      config,
      `${abConfig(`${nginx.url}/plain.cosi`, plainSha)}managementOs:\n  users:\n    - name: installer\n`,
    );
    const target = join(dir, 'never.img');
    const result = trident(['install', config, '--disk', `os=image:${target}:1500M`]);
    expect(result.code).toBe(5);
    expect(result.stderr).toContain('UNSUPPORTED_CONFIGURATION_ERROR:unsupported-feature');
    expect(result.stderr).toMatch(/managementOs \(users and network of the installer OS/u);
    await expect(stat(target)).rejects.toThrow();
  });
});
