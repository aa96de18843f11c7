/**
 * Builds a small source disk at test time, the way a COSI producer would (sgdisk + mkfs), and cuts it
 * into what a COSI carries: the primary-GPT region (LBA0 .. end of the entry array) and one raw image
 * per partition. The ext4 image is deliberately smaller than its partition ("shrunk").
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BlockTarget } from '../block-target.ts';
import { checkTargetSafety, type SafetyRequirements } from '../safety.ts';
import { type WrittenGpt, wipeSignatures, writeGpt } from '../write-gpt.ts';

export const MiB = 1024 * 1024;

export interface FixtureImage {
  number: number;
  name: string;
  fsType: string;
  /** Absolute byte offset and size of the partition. */
  offset: number;
  size: number;
  /** Raw image (what the COSI image decompresses to). */
  bytes: Uint8Array;
  imageSize: number;
}

export interface FixtureDisk {
  lbaSize: number;
  /** COSI `disk.size`. */
  diskSize: number;
  /** COSI primary-GPT region. */
  region: Uint8Array;
  diskGuid: string;
  images: FixtureImage[];
  /** Contents of the file put into the ext4 root image. */
  marker: string;
}

export function sh(command: string, args: readonly string[]): string {
  return execFileSync(command, args, {
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Like `sh` but returns stdout+stderr and the exit status instead of throwing. */
export function shStatus(command: string, args: readonly string[]): { status: number; output: string } {
  try {
    const output = execFileSync(command, args, {
      encoding: 'utf8',
      env: { ...process.env, LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { status: 0, output };
  } catch (error) {
    const e = error as { status?: number; stdout?: string; stderr?: string };
    return { status: e.status ?? -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function fileSha256(path: string): string {
  return sha256(readFileSync(path));
}

/** 32 MiB, 512-byte-sector disk: 1 = 8 MiB ESP (vfat, 6 MiB image), 2 = 20 MiB root (ext4, 12 MiB image). */
export function buildFixtureDisk(dir: string): FixtureDisk {
  mkdirSync(dir, { recursive: true });
  const lbaSize = 512;
  const diskSize = 32 * MiB;
  const source = join(dir, 'source.img');
  writeFileSync(source, new Uint8Array(0));
  sh('truncate', ['-s', String(diskSize), source]);
  sh('sgdisk', [
    '-n',
    '1:2048:+8M',
    '-t',
    '1:ef00',
    '-c',
    '1:esp',
    '-n',
    '2:0:+20M',
    '-t',
    '2:8300',
    '-c',
    '2:root',
    source,
  ]);
  const marker = `trident block-writer fixture ${Date.now()}\n`;
  const rootDir = join(dir, 'rootfs');
  mkdirSync(join(rootDir, 'etc'), { recursive: true });
  writeFileSync(join(rootDir, 'etc', 'marker'), marker);
  const espImage = join(dir, 'esp.img');
  const rootImage = join(dir, 'root.img');
  sh('truncate', ['-s', String(6 * MiB), espImage]);
  sh('mkfs.vfat', ['-n', 'ESP', espImage]);
  sh('truncate', ['-s', String(12 * MiB), rootImage]);
  sh('mkfs.ext4', ['-q', '-F', '-L', 'root', '-d', rootDir, rootImage]);
  const region = new Uint8Array(readFileSync(source).subarray(0, 34 * lbaSize));
  const info = sh('sgdisk', ['-p', source]);
  const diskGuid = /Disk identifier \(GUID\): (\S+)/.exec(info)?.[1]?.toLowerCase() ?? '';
  const partition = (number: number): { offset: number; size: number } => {
    const text = sh('sgdisk', ['-i', String(number), source]);
    const first = Number(/First sector: (\d+)/.exec(text)?.[1]);
    const last = Number(/Last sector: (\d+)/.exec(text)?.[1]);
    return { offset: first * lbaSize, size: (last - first + 1) * lbaSize };
  };
  const esp = new Uint8Array(readFileSync(espImage));
  const root = new Uint8Array(readFileSync(rootImage));
  return {
    lbaSize,
    diskSize,
    region,
    diskGuid,
    marker,
    images: [
      { number: 1, name: 'esp', fsType: 'vfat', ...partition(1), bytes: esp, imageSize: esp.byteLength },
      { number: 2, name: 'root', fsType: 'ext4', ...partition(2), bytes: root, imageSize: root.byteLength },
    ],
  };
}

/**
 * What the engine does with a target, in order: safety, wipe, partition data at absolute offsets,
 * then the GPT last.
 */
export async function streamFixture(
  target: BlockTarget,
  fixture: FixtureDisk,
  requirements: SafetyRequirements = {},
): Promise<WrittenGpt> {
  await checkTargetSafety(target, {
    requiredSize: fixture.diskSize,
    lbaSize: fixture.lbaSize,
    ...requirements,
  });
  await wipeSignatures(target);
  for (const image of fixture.images) await target.writeAt(image.bytes, image.offset);
  await target.sync();
  return writeGpt(target, fixture.region, {
    lbaSize: fixture.lbaSize,
    ...(requirements.allowFileSectorSizeMismatch === undefined
      ? {}
      : { allowFileSectorSizeMismatch: requirements.allowFileSectorSizeMismatch }),
  });
}

/** Copies `size` bytes at `offset` of `file` into a new file, so fsck tools can check it without root. */
export function extract(file: string, offset: number, size: number, out: string): string {
  const bytes = readFileSync(file).subarray(offset, offset + size);
  writeFileSync(out, bytes);
  return out;
}
