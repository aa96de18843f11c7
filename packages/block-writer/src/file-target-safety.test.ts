/**
 * Disk-image file targets are checked before the first byte is written: a file in use, the file
 * being read, a symlink, a file another run holds. Every refusal compares the file's checksum
 * before and after.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, linkSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { componentAvailable } from '@trident/test-support/component';
import { createLoopScope, loopDeviceSupport } from '@trident/test-support/loop-device';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileTarget, openBlockTarget } from './block-target.ts';
import { isBlockWriterError } from './errors.ts';
import { openFileTarget } from './file-target.ts';
import { inspectFileTarget } from './inspect-file-target.ts';
import { fileSha256, MiB, sh } from './test-support/fixture-disk.ts';

const support = loopDeviceSupport();
const loopsAvailable = componentAvailable(
  support.available,
  'loop-device file-target safety',
  'reason' in support ? support.reason : '',
);
const scope = createLoopScope();
let dir: string;
let counter = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bw-filesafety-'));
});
afterAll(async () => {
  await scope.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function codeOf(promise: Promise<unknown>): Promise<{ code: unknown; message: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return {
    code: isBlockWriterError(error) ? error.code : error,
    message: error instanceof Error ? error.message : '',
  };
}

/** A file with an ext4 filesystem holding a marker, so any write to it shows in the checksum. */
function filesystemFile(): string {
  const file = join(dir, `fs-${counter++}.img`);
  writeFileSync(file, '');
  sh('truncate', ['-s', String(32 * MiB), file]);
  sh('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', file]);
  return file;
}

/** Runs `attempt`, expects `code`, and the file byte-identical (and the same size) afterwards. */
async function expectUntouched(file: string, attempt: () => Promise<unknown>, code: string): Promise<string> {
  sh('sync', []);
  const before = fileSha256(file);
  const result = await codeOf(attempt());
  expect(result.code).toBe(code);
  sh('sync', []);
  expect(fileSha256(file)).toBe(before);
  return result.message;
}

describe('file targets: checks before the first write', () => {
  it('refuses an existing file unless told to replace it, naming --force', async () => {
    const file = filesystemFile();
    const message = await expectUntouched(
      file,
      () => openFileTarget(file, { size: 64 * MiB }),
      'BLOCK_TARGET_EXISTS',
    );
    expect(message).toContain('--force');
    expect((await inspectFileTarget(file, { size: 64 * MiB })).problems.map((p) => p.code)).toEqual([
      'BLOCK_TARGET_EXISTS',
    ]);
    const link = join(dir, `dangling-${counter++}.img`);
    symlinkSync(join(dir, 'nowhere'), link);
    expect((await inspectFileTarget(link, { size: 64 * MiB })).problems.map((p) => p.code)).toEqual([
      'BLOCK_TARGET_NOT_SUPPORTED',
    ]);
    const replaced = await openFileTarget(file, { size: 8 * MiB, existing: 'replace' });
    expect(replaced.size).toBe(8 * MiB);
    expect(replaced.created).toBe(false);
    expect(await replaced.readAt(4096, 0)).toEqual(new Uint8Array(4096));
    await replaced.close();
  });

  it('never follows a symlink at the target path, and leaves what it points to alone', async () => {
    const victim = filesystemFile();
    const link = join(dir, `link-${counter++}.img`);
    symlinkSync(victim, link);
    for (const existing of ['refuse', 'replace', 'keep'] as const) {
      const message = await expectUntouched(
        victim,
        () => openFileTarget(link, { size: 8 * MiB, existing }),
        'BLOCK_TARGET_NOT_SUPPORTED',
      );
      expect(message).toMatch(/symbolic link/u);
    }
  });

  it('refuses the file being read (protect), also through a hard link, before touching it', async () => {
    const source = filesystemFile();
    const alias = join(dir, `alias-${counter++}.img`);
    linkSync(source, alias);
    for (const path of [source, alias]) {
      const message = await expectUntouched(
        source,
        () =>
          openFileTarget(path, { size: 8 * MiB, existing: 'replace', requirements: { protect: [source] } }),
        'BLOCK_TARGET_IS_SOURCE',
      );
      expect(message).toContain(source);
    }
  });

  it('removes a file it created when a check or the sizing fails, so a rerun needs no --force', async () => {
    const small = join(dir, `small-${counter++}.img`);
    expect(
      (await codeOf(openFileTarget(small, { size: 8 * MiB, requirements: { requiredSize: 16 * MiB } }))).code,
    ).toBe('BLOCK_TARGET_TOO_SMALL');
    expect(existsSync(small)).toBe(false);
    // Larger than any file the filesystem allows: ftruncate fails with EFBIG.
    const huge = join(dir, `huge-${counter++}.img`);
    expect((await codeOf(createFileTarget(huge, { size: 2 ** 52 }))).code).toBe('BLOCK_IO');
    expect(existsSync(huge)).toBe(false);
  });

  it('locks the file for as long as it is open: a second open fails at once naming the holder', async () => {
    const file = join(dir, `locked-${counter++}.img`);
    const first = await createFileTarget(file, { size: 8 * MiB });
    await first.writeAt(new Uint8Array(512).fill(7), 0);
    await first.sync();
    const message = await expectUntouched(
      file,
      () => openFileTarget(file, { size: 8 * MiB, existing: 'replace' }),
      'BLOCK_TARGET_LOCKED',
    );
    expect(message).toContain(`process ${process.pid}`);
    // Plans see it too, without taking the lock themselves.
    expect(
      (await inspectFileTarget(file, { size: 8 * MiB, existing: 'replace' })).problems.map((p) => p.code),
    ).toEqual(['BLOCK_TARGET_LOCKED']);
    // Closing the descriptor but keeping the lock (re-read and grow run with the file closed).
    await first.close({ keepLock: true });
    expect(first.locked).toBe(true);
    expect((await codeOf(openBlockTarget(file))).code).toBe('BLOCK_TARGET_LOCKED');
    await first.unlock();
    const again = await openBlockTarget(file);
    await again.close();
  });

  it('names another process that holds the lock, and the lock dies with it', async () => {
    const file = join(dir, `held-${counter++}.img`);
    writeFileSync(file, '');
    sh('truncate', ['-s', String(8 * MiB), file]);
    const holder: ChildProcess = spawn('flock', ['--exclusive', '--close', file, 'sleep', '30'], {
      stdio: 'ignore',
      detached: true,
    });
    try {
      await waitFor(async () => (await codeOf(openBlockTarget(file))).code === 'BLOCK_TARGET_LOCKED');
      const message = await expectUntouched(
        file,
        () => openFileTarget(file, { size: 8 * MiB, existing: 'replace' }),
        'BLOCK_TARGET_LOCKED',
      );
      expect(message).toMatch(/process \d+ \(flock --exclusive .* sleep 30\)/u);
    } finally {
      // flock and its sleep, by process group: the group is the one this test started.
      if (holder.pid !== undefined) process.kill(-holder.pid, 'SIGKILL');
    }
    await waitFor(
      async () => (await codeOf(openBlockTarget(file).then((t) => t.close()))).code === undefined,
    );
  });
});

describe.skipIf(!loopsAvailable)('file targets behind loop devices', () => {
  it('refuses a file backing a mounted loop device, by path, hard link or deleted name, with --force', async () => {
    const file = filesystemFile();
    const loop = await scope.attach(file);
    const mountPoint = await scope.mount(loop.path, { readOnly: true });
    const message = await expectUntouched(
      file,
      () => createFileTarget(file, { size: 8 * MiB, overwrite: true }),
      'BLOCK_TARGET_MOUNTED',
    );
    expect(message).toContain(loop.path);
    expect(message).toContain(mountPoint);
    await expectUntouched(file, () => openBlockTarget(file), 'BLOCK_TARGET_MOUNTED');
    expect(
      (await inspectFileTarget(file, { size: 8 * MiB, existing: 'replace' })).problems.map((p) => p.code),
    ).toEqual(['BLOCK_TARGET_MOUNTED']);
    const alias = join(dir, `alias-${counter++}.img`);
    linkSync(file, alias);
    await expectUntouched(
      file,
      () => openFileTarget(alias, { size: 8 * MiB, existing: 'replace' }),
      'BLOCK_TARGET_MOUNTED',
    );
    // The kernel now reports the backing file as "<path> (deleted)"; the inode still matches.
    rmSync(file);
    await expectUntouched(
      alias,
      () => openFileTarget(alias, { size: 8 * MiB, existing: 'replace' }),
      'BLOCK_TARGET_MOUNTED',
    );
  });

  it('claims an idle loop device backed by the file while it writes: nothing can mount it meanwhile', async () => {
    const file = filesystemFile();
    const loop = await scope.attach(file);
    const target = await openFileTarget(file, { existing: 'keep' });
    const mounted = await scope.mount(loop.path, { readOnly: true }).then(
      () => true,
      () => false,
    );
    expect(mounted).toBe(false);
    await target.close();
    const mountPoint = await scope.mount(loop.path, { readOnly: true });
    expect(mountPoint).not.toBe('');
  });

  it('refuses a loop device backed by the file being read', async () => {
    const source = filesystemFile();
    const loop = await scope.attach(source);
    await expectUntouched(
      source,
      () => openBlockTarget(loop.path, { requirements: { protect: [source] } }),
      'BLOCK_TARGET_IS_SOURCE',
    );
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
