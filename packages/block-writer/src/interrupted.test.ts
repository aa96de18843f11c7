import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { componentAvailable } from '@trident/test-support/component';
import { createLoopScope, loopDeviceSupport } from '@trident/test-support/loop-device';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBlockTarget } from './block-target.ts';
import {
  buildFixtureDisk,
  type FixtureDisk,
  MiB,
  sh,
  shStatus,
  streamFixture,
} from './test-support/fixture-disk.ts';
import { readGpt } from './write-gpt.ts';

const support = loopDeviceSupport();
const loopsAvailable = componentAvailable(
  support.available,
  'loop-device interrupted-run',
  'reason' in support ? support.reason : '',
);

const scope = createLoopScope();
let dir: string;
let fixture: FixtureDisk;
const child = new URL('./test-support/interrupted-child.ts', import.meta.url).pathname;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bw-kill-'));
  fixture = buildFixtureDisk(join(dir, 'fixture'));
});
afterAll(async () => {
  await scope.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** A disk that already holds a valid, bootable-looking GPT: the previous install. */
async function previousInstall(file: string): Promise<void> {
  writeFileSync(file, new Uint8Array(0));
  sh('truncate', ['-s', String(48 * MiB), file]);
  const target = await openBlockTarget(file);
  await streamFixture(target, fixture);
  await target.close();
  expect(sh('sgdisk', ['-v', file])).toContain('No problems found');
}

/** Starts the child "engine", waits until it wrote partition data, then SIGKILLs it. */
function runAndKill(path: string): Promise<void> {
  const image = fixture.images[1];
  if (image === undefined) throw new Error('fixture');
  const imageFile = join(dir, 'fixture', 'root.img');
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      // Workspace packages (exec, cosi-format) resolve to their sources, as in the tests themselves.
      [
        '--conditions=@trident/source',
        child,
        path,
        imageFile,
        String(image.offset),
        String(fixture.diskSize),
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    proc.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    proc.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) proc.kill('SIGKILL');
    });
    proc.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`child exited with ${code} before being killed: ${stderr}`));
    });
  });
}

function expectNoValidGpt(path: string, bytes: Uint8Array): void {
  const lba1 = new TextDecoder('latin1').decode(bytes.subarray(512, 520));
  const last = new TextDecoder('latin1').decode(bytes.subarray(bytes.length - 512, bytes.length - 504));
  expect(lba1).not.toBe('EFI PART');
  expect(last).not.toBe('EFI PART');
  expect(sh('sgdisk', ['-v', path])).toContain('Creating new GPT entries');
  expect(shStatus('blkid', ['-p', '-o', 'value', '-s', 'PTTYPE', path]).output.trim()).toBe('');
}

describe('an interrupted run', () => {
  it('leaves no valid GPT on a file target (killed between partitions)', async () => {
    const file = join(dir, 'killed.img');
    await previousInstall(file);
    await runAndKill(file);
    const bytes = readFileSync(file);
    expectNoValidGpt(file, bytes);
    // partition data was being written: the kill really came mid-run
    const root = fixture.images[1];
    if (root === undefined) throw new Error('fixture');
    expect(bytes.subarray(root.offset, root.offset + root.imageSize).equals(root.bytes)).toBe(true);
    const target = await openBlockTarget(file);
    expect(await readGpt(target)).toBeUndefined();
    await target.close();
  });

  it.skipIf(!loopsAvailable)('leaves no valid GPT on a loop device (killed between partitions)', async () => {
    const file = join(dir, 'killed-loop.img');
    await previousInstall(file);
    const loop = await scope.attach(file, { partitions: true });
    expect(loop.partitions().length).toBe(2);
    await runAndKill(loop.path);
    sh('sync', []);
    expectNoValidGpt(loop.path, readFileSync(file));
    // the kernel released the exclusive open with the process
    const target = await openBlockTarget(loop.path);
    await target.close();
  });
});
