/**
 * Real FAT volumes for tests: an ESP image made by mkfs.vfat, optionally inside a GPT disk image
 * made by sgdisk, filled from a directory tree with mcopy. No mounts (this host has no vfat).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const ENV = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

export interface Scratch {
  dir: string;
  cleanup(): Promise<void>;
}

export async function scratchDir(): Promise<Scratch> {
  const dir = await mkdtemp(join(tmpdir(), 'boot-config-test-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes `files` (path → content) under `dir`. */
export async function writeTree(dir: string, files: Record<string, string | Uint8Array>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const file = join(dir, path);
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, content);
  }
}

/** A FAT image of `mib` MiB holding `files`. */
export async function makeFatImage(
  file: string,
  files: Record<string, string | Uint8Array>,
  mib = 34,
): Promise<void> {
  await run('mkfs.vfat', ['-C', '-n', 'ESP', file, String(mib * 1024)], { env: ENV });
  if (Object.keys(files).length === 0) return;
  const tree = `${file}.tree`;
  await writeTree(tree, files);
  for (const entry of await readdir(tree))
    await run('mcopy', ['-s', '-m', '-i', file, join(tree, entry), '::/'], { env: ENV });
  await rm(tree, { recursive: true, force: true });
}

export interface TestDisk {
  disk: string;
  espOffset: number;
  rootPartUuid: string;
  espPartUuid: string;
}

/**
 * A GPT disk image: partition 1 an ESP holding `files`, partition 2 a Linux root (empty), with the
 * given PARTUUIDs.
 */
export async function makeDiskWithEsp(
  disk: string,
  files: Record<string, string | Uint8Array>,
  ids: { esp: string; root: string },
): Promise<TestDisk> {
  const espMiB = 34;
  await writeFile(disk, '');
  await truncate(disk, (espMiB + 8 + 2) * MiB);
  await run('sgdisk', [
    ...['-n', `1:2048:+${espMiB}M`, '-t', '1:ef00', '-u', `1:${ids.esp}`],
    ...['-n', '2:0:+8M', '-t', '2:4f68bce3-e8cd-4db1-96e7-fbcaf984b709', '-u', `2:${ids.root}`],
    disk,
  ]);
  const esp = `${disk}.esp`;
  await makeFatImage(esp, files, espMiB);
  await run('dd', [`if=${esp}`, `of=${disk}`, 'bs=1M', 'seek=1', 'conv=notrunc', 'status=none']);
  await rm(esp);
  return { disk, espOffset: MiB, rootPartUuid: ids.root, espPartUuid: ids.esp };
}

/** A file of the FAT volume at `offset` in `image`, read back with mtools (independent of our code). */
export async function mtype(image: string, path: string, offset = 0): Promise<string> {
  const drive = offset === 0 ? image : `${image}@@${offset}`;
  return (await run('mcopy', ['-n', '-i', drive, `::${path}`, '-'], { env: ENV })).stdout;
}

/** All paths of the FAT volume (files and directories), as `mdir -/ -b` prints them. */
export async function mdirAll(image: string, offset = 0): Promise<string[]> {
  const drive = offset === 0 ? image : `${image}@@${offset}`;
  const { stdout } = await run('mdir', ['-/', '-b', '-i', drive, '::/'], { env: ENV });
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.replace(/^::/u, ''))
    .sort();
}
