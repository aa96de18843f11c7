import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildFixtureCosi,
  sha384Hex,
} from '../../../../packages/cosi-format/src/test-support/fixture-cosi.ts';

const MAIN = resolve(import.meta.dirname, '../main.ts');

/** Runs the real CLI in its own Node process; `heapMiB` caps its V8 heap (an unbounded list dies). */
function trident(args: string[], options: { input?: Uint8Array | string; heapMiB?: number } = {}) {
  const result = spawnSync(
    process.execPath,
    [
      ...(options.heapMiB ? [`--max-old-space-size=${options.heapMiB}`] : []),
      '--conditions=@trident/source',
      MAIN,
      ...args,
    ],
    { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024, input: options.input ?? '' },
  );
  return { code: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

let dir: string;
const fixture = buildFixtureCosi();
const metadataText = JSON.stringify(fixture.metadata, null, 2);
const metadataHash = sha384Hex(new TextEncoder().encode(metadataText));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trident-cosi-validate-'));
  await writeFile(join(dir, 'os.cosi'), fixture.bytes);
  // No .json extension: the input is recognised by its content.
  await writeFile(join(dir, 'metadata.data'), metadataText);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('cosi validate on a bare metadata.json', () => {
  it.each(['trident', 'spec'])('validates a metadata file (--metadata-only, %s profile)', (profile) => {
    const result = trident([
      'cosi',
      'validate',
      join(dir, 'metadata.data'),
      '--metadata-only',
      '--profile',
      profile,
    ]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(`valid (${profile} profile, metadata only): 0 error(s)`);
    expect(result.code).toBe(0);
  });

  it.each(['trident', 'spec'])('reads it from standard input with "-" (%s profile)', (profile) => {
    const result = trident(['cosi', 'validate', '-', '--metadata-only', '--profile', profile, '--json'], {
      input: metadataText,
    });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      location: '-',
      valid: true,
      metadataOnly: true,
      metadataSha384: metadataHash,
    });
  });

  it('reports the metadata findings of a bad one with codes and JSON paths, exit 1', () => {
    const bad = JSON.stringify({ ...fixture.metadata, osArch: 'sparc', bootloader: undefined });
    const result = trident(['cosi', 'validate', '-', '--metadata-only', '--profile', 'spec'], { input: bad });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('error COSI_OS_ARCH_UNKNOWN at osArch');
    expect(result.stdout).toContain('error COSI_BOOTLOADER_REQUIRED at bootloader');
  });

  it('checks --sha384 against the bytes given', () => {
    const file = join(dir, 'metadata.data');
    expect(trident(['cosi', 'validate', file, '--sha384', `sha384:${metadataHash}`]).code).toBe(0);
    const wrong = trident(['cosi', 'validate', file, '--sha384', `sha384:${'0'.repeat(96)}`]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('[COSI_METADATA_HASH_MISMATCH]');
  });

  it('refuses a COSI archive on standard input, pointing at the path form', () => {
    const result = trident(['cosi', 'validate', '-', '--metadata-only'], { input: fixture.bytes });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('[CLI_STDIN_NOT_METADATA]');
  });
});

describe('cosi validate --sha384 takes what StreamDisk takes', () => {
  it('refuses bare hex with the one unsupported-hash-kind message, before reading the image', () => {
    const result = trident(['cosi', 'validate', join(dir, 'nope.cosi'), '--sha384', metadataHash]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `[COSI_HASH_FORMAT] Hash '${metadataHash}' has unsupported hash kind. Expected 'ignored' or 'sha384:' prefix.`,
    );
  });

  it('fails a prefixed hash that does not match as a mismatch, however it is spelled', () => {
    const result = trident(['cosi', 'validate', join(dir, 'os.cosi'), '--sha384', 'sha384:1234']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[COSI_METADATA_HASH_MISMATCH]');
    expect(result.stderr).toContain('not 96 hexadecimal digits');
  });
});

describe('hostile metadata stays within a small heap (V8 capped at 192 MiB)', () => {
  const base = JSON.stringify(fixture.metadata);
  const numbers = (bytes: number) => `[${'1.0,'.repeat(Math.floor(bytes / 4) - 1)}1.0]`;

  it('a 64 MiB metadata.json of numbers is refused by size, with a code', async () => {
    const file = join(dir, 'huge.cosi');
    const text = `${base.slice(0, -1)},"extra":${numbers(64 * 1024 * 1024)}}`;
    await writeFile(file, buildFixtureCosi({ metadataText: text }).bytes);
    const result = trident(['cosi', 'validate', file], { heapMiB: 192 });
    expect(result.signal).toBeNull();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[COSI_METADATA_TOO_LARGE]');
    await rm(file);
  });

  it('a 15.5 MiB one (under the limit) lists 1000 findings and counts the other four million', async () => {
    const file = join(dir, 'numbers.cosi');
    const text = `${base.slice(0, -1)},"extra":${numbers(15.5 * 1024 * 1024)}}`;
    await writeFile(file, buildFixtureCosi({ metadataText: text }).bytes);
    const result = trident(['cosi', 'validate', file, '--metadata-only'], { heapMiB: 192 });
    expect(result.signal).toBeNull();
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/\.\.\. and 406\d{4} more error\(s\)/u);
    expect(
      result.stdout.split('\n').filter((l) => l.startsWith('error COSI_NUMBER_NOT_INTEGER')),
    ).toHaveLength(1000);
    const json = JSON.parse(
      trident(['cosi', 'validate', file, '--metadata-only', '--json'], { heapMiB: 192 }).stdout,
    );
    expect(json.errors).toHaveLength(1000);
    expect(json.omittedErrors).toBeGreaterThan(4_000_000);
    await rm(file);
  });

  it('metadata nested 20,000 deep is a coded finding, not "Maximum call stack size exceeded"', () => {
    const deep = `${base.slice(0, -1)},"extra":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    const result = trident(['cosi', 'validate', '-', '--json'], { input: deep, heapMiB: 192 });
    expect(result.code).toBe(1);
    expect(result.stderr).not.toMatch(/call stack/u);
    expect(JSON.parse(result.stdout).errors[0]).toMatchObject({ code: 'COSI_METADATA_TOO_DEEP' });
  });
});

describe('a GPT the writer would refuse', () => {
  // FirstUsableLBA inside the entry array: block-writer refuses it only after wiping the target.
  const broken = buildFixtureCosi({ gptHeader: { firstUsableLba: 20 } });

  it('fails validation under both profiles and stream-disk --dry-run, writing nothing', async () => {
    const file = join(dir, 'broken-gpt.cosi');
    await writeFile(file, broken.bytes);
    for (const profile of ['trident', 'spec']) {
      const result = trident(['cosi', 'validate', file, '--profile', profile]);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('error COSI_GPT_FIRST_USABLE_IN_ENTRIES at disk.gptRegions[0].image');
    }
    const target = join(dir, 'never.img');
    const dryRun = trident([
      'stream-disk',
      file,
      '--target-image',
      target,
      '--dry-run',
      '--allow-arch-mismatch',
    ]);
    expect(dryRun.code).toBe(1);
    expect(dryRun.stderr).toMatch(/COSI_GPT_FIRST_USABLE_IN_ENTRIES|first usable LBA 20/u);
    expect(existsSync(target)).toBe(false);
  });
});

describe('cosi validate within a memory budget', () => {
  const huge = buildFixtureCosi({
    mutate: (metadata) => {
      metadata['compression'] = { maxWindowLog: 31 };
    },
  });

  it('refuses, before decoding, a COSI whose declared window does not fit --memory-limit', async () => {
    await writeFile(join(dir, 'window31.cosi'), huge.bytes);
    const result = trident(['cosi', 'validate', join(dir, 'window31.cosi'), '--memory-limit', '1G']);
    expect(result.stderr).toMatch(
      /\[ENGINE_MEMORY_BUDGET\] image 'images\/\w+\.raw\.zst' declares a zstd window of 2\^31 bytes \(maxWindowLog 31\); verifying it needs 2052 MiB but only \d+ MiB of the 1024 MiB budget \(--memory-limit\)/u,
    );
    expect(result.stdout).not.toContain('valid');
    expect(result.code).toBe(3);
  });

  it('verifies a COSI whose window fits the same limit', () => {
    const result = trident(['cosi', 'validate', join(dir, 'os.cosi'), '--memory-limit', '1G']);
    expect(result.stdout).toContain('valid (trident profile)');
    expect(result.code).toBe(0);
  });
});
