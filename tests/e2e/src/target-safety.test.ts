/**
 * Targets through the real CLI: every refusal happens before the first write (checked with the
 * target's checksum before and after), `--force` never skips a rule, a run never overwrites its
 * own source, two runs never write one file, and a failed create leaves nothing behind.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCosi, openCosi } from '@trident/cosi-format';
import { componentAvailable } from '@trident/test-support/component';
import { createDemoDiskImage } from '@trident/test-support/disk-image';
import { createLoopScope, loopDeviceSupport } from '@trident/test-support/loop-device';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CosiServer, serveCosi } from './cosi-server.ts';
import { exec, sgdiskClean } from './disk-checks.ts';
import { trident, tridentAsync } from './run-cli.ts';

const loops = createLoopScope();
const loopSupport = loopDeviceSupport();
const loopsAvailable = componentAvailable(
  loopSupport.available,
  'loop-device target safety',
  'reason' in loopSupport ? loopSupport.reason : '',
);

let dir: string;
let cosi: string;
let server: CosiServer;
let counter = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trident-targets-'));
  await createDemoDiskImage({ path: join(dir, 'disk.img'), sizeMiB: 128, espMiB: 16, rootMiB: 64 });
  cosi = join(dir, 'demo.cosi');
  await buildCosi({ input: join(dir, 'disk.img'), output: cosi });
  server = await serveCosi(cosi);
});

afterAll(async () => {
  await loops.cleanup();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A file holding an ext4 filesystem: a disk image someone cares about. */
async function precious(name = `precious-${counter++}.img`): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, '');
  await exec('truncate', ['-s', '256M', file]);
  await exec('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', file]);
  return file;
}

/** Runs the CLI and expects `code` with the target's bytes (and size) unchanged. */
async function expectRefused(
  target: string,
  args: string[],
  code: number,
): Promise<{ stdout: string; stderr: string }> {
  await exec('sync', []);
  const before = await sha256(target);
  const size = (await stat(target)).size;
  const result = trident(args);
  expect(result.code, result.stderr).toBe(code);
  await exec('sync', []);
  expect((await stat(target)).size).toBe(size);
  expect(await sha256(target)).toBe(before);
  return result;
}

function installConfig(image: string): string {
  return `image:
  url: file://${image}
  sha384: ignored
storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: 32M }
        - { id: root, type: root, size: 96M }
  filesystems:
    - deviceId: esp
      mountPoint: { path: /boot/efi, options: umask=0077 }
    - deviceId: root
      mountPoint: /
`;
}

describe('disk-image file targets', () => {
  it('refuses an existing file without --force, naming the CLI flag, and writes nothing', async () => {
    const target = await precious();
    const result = await expectRefused(target, ['stream-disk', cosi, '--target-image', target], 5);
    expect(result.stderr).toContain('BLOCK_TARGET_EXISTS');
    expect(result.stderr).toContain('--force');
    expect(result.stderr).not.toMatch(/overwrite: true/u);
    // --dry-run refuses it the same way.
    await expectRefused(target, ['stream-disk', cosi, '--target-image', target, '--dry-run'], 5);
  });

  it('refuses to overwrite its own source, by path, through a hard or symbolic link, with --force', async () => {
    const source = join(dir, `self-${counter++}.cosi`);
    await copyFile(cosi, source);
    const result = await expectRefused(
      source,
      ['stream-disk', source, '--target-image', source, '--force'],
      5,
    );
    expect(result.stderr).toContain('BLOCK_TARGET_IS_SOURCE');
    const hard = join(dir, `hard-${counter++}.img`);
    await exec('ln', [source, hard]);
    await expectRefused(source, ['stream-disk', `file://${source}`, '--target-image', hard, '--force'], 5);
    const soft = join(dir, `soft-${counter++}.img`);
    await symlink(source, soft);
    await expectRefused(source, ['stream-disk', source, '--target-image', soft, '--force'], 1);
    const config = join(dir, `self-${counter++}.yaml`);
    await writeFile(config, installConfig(source));
    await expectRefused(source, ['install', config, '--disk', `os=image:${source}:256M`, '--force'], 5);
  });

  it('leaves nothing behind when creating the target fails, so the rerun needs no --force', async () => {
    const target = join(dir, `huge-${counter++}.img`);
    // Larger than ext4 allows for one file: the sizing fails after the file was created.
    const result = trident(['stream-disk', cosi, '--target-image', target, '--target-size', '64T']);
    expect(result.code, result.stderr).not.toBe(0);
    expect(result.stderr).toMatch(/cannot size the file/u);
    expect(existsSync(target)).toBe(false);
    const rerun = trident(['stream-disk', cosi, '--target-image', target, '-q']);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect((await sgdiskClean(target)).ok).toBe(true);
  });

  it('removes a target it created when the run fails before any image verified', async () => {
    // The first image written (the ESP, lowest offset) is corrupt: it never verifies.
    const corrupt = join(dir, `corrupt-${counter++}.cosi`);
    const reader = await openCosi(cosi);
    const esp = reader.member(reader.metadata.images.find((fs) => fs.mountPoint === '/boot/efi')!.image.path);
    await reader.close();
    const bytes = await readFile(cosi);
    bytes[esp.dataOffset + Math.floor(esp.size / 2)]! ^= 0xff;
    await writeFile(corrupt, bytes);
    const target = join(dir, `failed-${counter++}.img`);
    const result = trident(['stream-disk', corrupt, '--target-image', target, '--concurrency', '1']);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain('deploy-images');
    expect(existsSync(target)).toBe(false);
    expect(existsSync(`${target}.trident-journal.json`)).toBe(false);
  });

  it('lets one of two concurrent runs write a file: the second fails at once naming the first', async () => {
    const target = join(dir, `shared-${counter++}.img`);
    server.hold();
    const first = tridentAsync(['stream-disk', server.url, '--target-image', target]);
    try {
      await server.held(); // the first run has opened, locked and wiped the file, and is writing
      const started = Date.now();
      const second = trident(['stream-disk', cosi, '--target-image', target, '--force']);
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(second.code, second.stderr).toBe(5);
      expect(second.stderr).toContain('BLOCK_TARGET_LOCKED');
      expect(second.stderr).toContain(`process ${first.pid}`);
    } finally {
      server.release();
    }
    const done = await first.done;
    expect(done.code, done.stderr).toBe(0);
    expect((await sgdiskClean(target)).ok).toBe(true);
    // Released at the end of the run: the next one may replace it.
    expect(trident(['stream-disk', cosi, '--target-image', target, '--force', '-q']).code).toBe(0);
  });
});

describe.skipIf(!loopsAvailable)('files and devices behind loop devices', () => {
  it('refuses a file backing a mounted loop device with --force, for stream-disk and install, writing nothing', async () => {
    const target = await precious();
    const loop = await loops.attach(target);
    const mountPoint = await loops.mount(loop.path, { readOnly: true });
    const result = await expectRefused(target, ['stream-disk', cosi, '--target-image', target, '--force'], 5);
    expect(result.stderr).toContain('BLOCK_TARGET_MOUNTED');
    expect(result.stderr).toContain(mountPoint);
    await expectRefused(target, ['stream-disk', cosi, '--target-image', target, '--force', '--dry-run'], 5);
    const config = join(dir, `mounted-${counter++}.yaml`);
    await writeFile(config, installConfig(cosi));
    await expectRefused(target, ['install', config, '--disk', `os=image:${target}:256M`, '--force'], 5);
    expect(existsSync(join(mountPoint, 'lost+found'))).toBe(true);
  });

  it('refuses a loop device whose backing file is the source', async () => {
    const source = join(dir, `looped-${counter++}.cosi`);
    await copyFile(cosi, source);
    const loop = await loops.attach(source);
    const result = await expectRefused(source, ['stream-disk', source, '--disk', loop.path], 5);
    expect(result.stderr).toContain('BLOCK_TARGET_IS_SOURCE');
  });
});
