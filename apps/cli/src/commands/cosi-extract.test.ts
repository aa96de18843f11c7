import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { link, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type NginxServer, startNginx } from '@trident/test-support/nginx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildFixtureCosi,
  pseudoRandomBytes,
} from '../../../../packages/cosi-format/src/test-support/fixture-cosi.ts';

const MAIN = resolve(import.meta.dirname, '../main.ts');

function trident(...args: string[]) {
  const result = spawnSync(process.execPath, ['--conditions=@trident/source', MAIN, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function tree(root: string): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true, recursive: true });
  return entries.map((e) => join(e.parentPath, e.name).slice(root.length + 1)).sort();
}

let dir: string;
let nginx: NginxServer;
// Images of 3 MiB of noise each (zstd cannot shrink them), served at 1 MiB/s: a few seconds of work.
const fixture = buildFixtureCosi({
  rawOverride: {
    'images/esp.raw.zst': pseudoRandomBytes(3 * 1024 * 1024, 3),
    'images/root.raw.zst': pseudoRandomBytes(3 * 1024 * 1024, 5),
  },
  partitions: [
    {
      typeGuid: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b',
      partitionGuid: 'aaaaaaaa-0000-4000-8000-000000000001',
      firstLba: 2048,
      lastLba: 2048 + 16383,
      name: 'esp',
    },
    {
      typeGuid: '4f68bce3-e8cd-4db1-96e7-fbcaf984b709',
      partitionGuid: 'aaaaaaaa-0000-4000-8000-000000000002',
      firstLba: 18432,
      lastLba: 18432 + 65535,
      name: 'root',
    },
  ],
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trident-extract-'));
  await writeFile(join(dir, 'os.cosi'), fixture.bytes);
  nginx = await startNginx({ serverConfig: 'limit_rate 1m;' });
  await writeFile(join(nginx.root, 'os.cosi'), fixture.bytes);
});
afterAll(async () => {
  await nginx?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('trident cosi extract', () => {
  it('refuses a hardlink planted at an image path (exit 1, the linked file untouched); --force replaces it', async () => {
    const out = join(dir, 'planted');
    const victim = join(dir, 'victim');
    await writeFile(victim, 'not yours');
    await mkdir(join(out, 'images'), { recursive: true });
    await link(victim, join(out, 'images/root.raw'));
    const refused = trident('cosi', 'extract', join(dir, 'os.cosi'), '-o', out);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`[COSI_EXTRACT_EXISTS] ${join(out, 'images/root.raw')} already exists`);
    expect(await tree(out)).toEqual(['images', 'images/root.raw']);
    const forced = trident('cosi', 'extract', join(dir, 'os.cosi'), '-o', out, '--force');
    expect(forced.code).toBe(0);
    expect(await readFile(victim, 'utf8')).toBe('not yours');
    expect(
      (await readFile(join(out, 'images/root.raw'))).equals(fixture.raw.get('images/root.raw.zst')!),
    ).toBe(true);
  });

  it('interrupted with SIGINT: exit 4 "interrupted", no partial file, finished images verified', async () => {
    const out = join(dir, 'interrupted');
    const child = spawn(
      process.execPath,
      ['--conditions=@trident/source', MAIN, 'cosi', 'extract', `${nginx.url}/os.cosi`, '-o', out],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const done = new Promise<number | null>((resolveDone) => child.on('close', (code) => resolveDone(code)));
    // Interrupt while an image is being written (its temporary file exists).
    let writing = false;
    const deadline = Date.now() + 60_000;
    while (!writing && Date.now() < deadline) {
      const names = await tree(out).catch(() => [] as string[]);
      writing = names.some((n) => n.endsWith('.trident-tmp'));
      if (!writing) await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGINT');
    expect(writing).toBe(true);
    const code = await done;
    expect(stderr).toContain('[CLI_INTERRUPTED] interrupted by SIGINT');
    expect(stderr).not.toMatch(/CORRUPT|HASH_MISMATCH|SIZE_MISMATCH/u);
    expect(code).toBe(4);
    const left = await tree(out);
    expect(left.filter((n) => n.endsWith('.trident-tmp'))).toEqual([]);
    // Whatever is there is complete and verified.
    for (const name of left.filter((n) => n.endsWith('.raw'))) {
      const expected = fixture.raw.get(`${name}.zst`)!;
      const actual = await readFile(join(out, name));
      expect(createHash('sha384').update(actual).digest('hex')).toBe(
        createHash('sha384').update(expected).digest('hex'),
      );
    }
  });
});
