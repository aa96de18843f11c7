import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCosi, openCosi } from '@trident/cosi-format';
import { pushOci } from '@trident/remote-source';
import { componentAvailable } from '@trident/test-support/component';
import { createDemoDiskImage, type DemoDiskImage } from '@trident/test-support/disk-image';
import { createLoopScope, type LoopScope, loopDeviceSupport } from '@trident/test-support/loop-device';
import { type NginxServer, startNginx } from '@trident/test-support/nginx';
import { type RegistryServer, startRegistry } from '@trident/test-support/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debugfsCat, exec, extractRange, gptSignatures, hashRange, sgdiskClean } from './disk-checks.ts';
import { trident } from './run-cli.ts';

const MiB = 1024 * 1024;
let dir: string;
let nginx: NginxServer;
let registry: RegistryServer;
let source: DemoDiskImage;
let metadataSha384: string;
const loops: LoopScope = createLoopScope();
const loopSupport = loopDeviceSupport();
const loopsAvailable = componentAvailable(
  loopSupport.available,
  'loop-device stream-disk',
  'reason' in loopSupport ? loopSupport.reason : '',
);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trident-stream-'));
  source = await createDemoDiskImage({
    path: join(dir, 'source.img'),
    sizeMiB: 512,
    espMiB: 64,
    rootMiB: 256,
    payloadBytes: 8 * MiB,
  });
  const built = await buildCosi({ input: source.path, output: join(dir, 'demo.cosi') });
  metadataSha384 = built.metadataSha384;
  nginx = await startNginx();
  await copyFile(join(dir, 'demo.cosi'), join(nginx.root, 'demo.cosi'));
  // A corrupted copy: one byte of the root image flipped, everything else (metadata, tar) intact.
  const reader = await openCosi(join(dir, 'demo.cosi'));
  const root = reader.member(reader.metadata.images.find((fs) => fs.mountPoint === '/')!.image.path);
  await reader.close();
  const bytes = await readFile(join(dir, 'demo.cosi'));
  bytes[root.dataOffset + Math.floor(root.size / 2)]! ^= 0xff;
  await writeFile(join(nginx.root, 'corrupt.cosi'), bytes);
  registry = await startRegistry();
  await pushOci(join(dir, 'demo.cosi'), `oci://${registry.host}/os/demo:1`);
});

afterAll(async () => {
  await loops.cleanup();
  await nginx?.stop();
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function expectFaithful(target: string): Promise<void> {
  // ESP: written raw, byte-identical to the source partition.
  const esp = source.esp;
  expect(await hashRange(target, esp.offset, esp.size)).toBe(
    await hashRange(source.path, esp.offset, esp.size),
  );
  // Root: shrunk in the COSI and grown back: a clean filesystem with the same files.
  const root = source.root;
  const copy = join(dir, `root-${Math.random().toString(36).slice(2)}.img`);
  await extractRange(target, root.offset, root.size, copy);
  await exec('e2fsck', ['-fn', copy]);
  const sourceCopy = join(dir, 'root-source.img');
  await extractRange(source.path, root.offset, root.size, sourceCopy);
  for (const file of ['/etc/os-release', '/etc/fstab', '/opt/payload.bin']) {
    expect(await debugfsCat(copy, file)).toBe(await debugfsCat(sourceCopy, file));
  }
  const { stdout } = await exec('dumpe2fs', ['-h', copy]);
  const blocks = Number(/Block count:\s+(\d+)/u.exec(stdout)?.[1]);
  expect(blocks * 4096).toBe(root.size); // grown to fill the partition
  await rm(copy, { force: true });
}

describe('trident stream-disk', () => {
  it('streams from nginx into a larger disk-image file: GPT valid with the backup at the end, data faithful', async () => {
    const target = join(dir, 'http.img');
    const result = trident([
      'stream-disk',
      `${nginx.url}/demo.cosi`,
      '--hash',
      `sha384:${metadataSha384}`,
      '--target-image',
      target,
      '--target-size',
      '1G',
    ]);
    expect(result.stderr).not.toMatch(/error/iu);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`done: sha384:${metadataSha384}`);
    expect((await stat(target)).size).toBe(1024 * MiB);
    expect((await sgdiskClean(target)).ok).toBe(true);
    expect(await gptSignatures(target, 1024 * MiB)).toEqual({ primary: true, backup: true });
    const { stdout } = await exec('sgdisk', ['-i', '2', target]);
    expect(stdout).toContain(source.root.partitionGuid.toUpperCase());
    await expectFaithful(target);
    expect(await nginx.accessLog()).toMatch(/ 206 /u);
  });

  it('streams from an OCI registry to the same data', async () => {
    const target = join(dir, 'oci.img');
    const result = trident([
      'stream-disk',
      `oci://${registry.host}/os/demo:1`,
      '--target-image',
      target,
      '-q',
    ]);
    expect(result.code).toBe(0);
    // The grown root differs in e2fsck/resize2fs timestamps between runs; its files must not.
    expect(await hashRange(target, source.esp.offset, source.esp.size)).toBe(
      await hashRange(join(dir, 'http.img'), source.esp.offset, source.esp.size),
    );
    await expectFaithful(target);
    expect((await sgdiskClean(target)).ok).toBe(true);
  });

  it('fails a corrupted image with the hash error and leaves no partition table', async () => {
    const target = join(dir, 'corrupt.img');
    const result = trident(['stream-disk', `${nginx.url}/corrupt.cosi`, '--target-image', target, '--json']);
    expect(result.code).toBe(2);
    const completed = result.stdout
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as {
            type: string;
            result?: { error?: { kind: string; subkind: string; code: string } };
          },
      )
      .find((event) => event.type === 'completed');
    expect(completed?.result?.error).toMatchObject({ kind: 'SERVICING_ERROR', subkind: 'deploy-images' });
    expect(completed?.result?.error?.code).toMatch(/^ZSTD_(HASH_MISMATCH|CORRUPT_FRAME)$/u);
    // The file stays for --resume when the ESP verified before the root failed (two images are
    // written at once); when nothing verified, the run removed the file it had created.
    const left = await stat(target).catch(() => undefined);
    if (left !== undefined) {
      expect(await gptSignatures(target, left.size)).toEqual({ primary: false, backup: false });
    }
  });

  it('refuses an image whose metadata hash differs, before touching the target', async () => {
    const target = join(dir, 'never.img');
    const result = trident([
      'stream-disk',
      `${nginx.url}/demo.cosi`,
      '--hash',
      `sha384:${'0'.repeat(96)}`,
      '--target-image',
      target,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('INVALID_INPUT_ERROR:load-cosi');
    await expect(stat(target)).rejects.toThrow();
  });

  it.skipIf(!loopsAvailable)(
    'streams onto a loop device, re-reads the table and grows the root',
    async () => {
      const backing = join(dir, 'loop-backing.img');
      await writeFile(backing, '');
      await exec('truncate', ['-s', '768M', backing]);
      const loop = await loops.attach(backing);
      const result = trident(['stream-disk', `${nginx.url}/demo.cosi`, '--disk', loop.path]);
      expect(result.stderr).not.toMatch(/error/iu);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('reboot to boot the new OS');
      expect((await sgdiskClean(loop.path)).ok).toBe(true);
      await exec('partx', ['--update', loop.path]).catch(() => undefined);
      await exec('e2fsck', ['-fn', loop.partitionPath(2)]);
      const { stdout } = await exec('blkid', ['-o', 'value', '-s', 'UUID', loop.partitionPath(2)]);
      expect(stdout.trim()).toBe(source.root.fsUuid);
      await expectFaithful(loop.path);
    },
  );

  it.skipIf(!loopsAvailable)('refuses a mounted loop device and writes nothing', async () => {
    const backing = join(dir, 'mounted.img');
    await exec('truncate', ['-s', '768M', backing]);
    await exec('mkfs.ext4', ['-q', backing]);
    const loop = await loops.attach(backing);
    await loops.mount(loop.path);
    const before = await hashRange(backing, 0, 2 * MiB);
    const result = trident(['stream-disk', `${nginx.url}/demo.cosi`, '--disk', loop.path]);
    expect(result.code).toBe(5);
    expect(result.stderr).toMatch(/mounted/u);
    expect(await hashRange(backing, 0, 2 * MiB)).toBe(before);
  });
});
