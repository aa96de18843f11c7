import { copyFile, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCosi } from '@trident/cosi-format';
import { createDemoDiskImage } from '@trident/test-support/disk-image';
import { type NginxServer, startNginx } from '@trident/test-support/nginx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gptSignatures, sgdiskClean } from './disk-checks.ts';
import { trident, tridentAsync } from './run-cli.ts';

const MiB = 1024 * 1024;
let dir: string;
let nginx: NginxServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trident-resume-'));
  // 24 MiB of incompressible payload in the root and a rate-limited location: the root image takes
  // several seconds, so the run can be interrupted after the ESP verified and before the root did.
  const disk = await createDemoDiskImage({
    path: join(dir, 'disk.img'),
    sizeMiB: 256,
    espMiB: 32,
    rootMiB: 128,
    payloadBytes: 24 * MiB,
  });
  await buildCosi({ input: disk.path, output: join(dir, 'big.cosi') });
  nginx = await startNginx({ serverConfig: 'location /slow/ { limit_rate 4m; }' });
  await mkdir(join(nginx.root, 'slow'), { recursive: true });
  await copyFile(join(dir, 'big.cosi'), join(nginx.root, 'slow', 'big.cosi'));
});

afterAll(async () => {
  await nginx?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('timed out');
}

describe('interruption and --resume', () => {
  it('Ctrl-C after one partition leaves no GPT; --resume re-verifies it, skips it and finishes', async () => {
    const target = join(dir, 'target.img');
    const journal = `${target}.trident-journal.json`;
    const url = `${nginx.url}/slow/big.cosi`;
    const first = tridentAsync(['stream-disk', url, '--target-image', target, '--concurrency', '1']);
    await waitFor(async () => {
      const text = await readFile(journal, 'utf8').catch(() => '');
      return text.includes('"partitionNumber": 1');
    }, 60_000);
    first.kill('SIGINT');
    const interrupted = await first.done;
    expect(interrupted.code).toBe(4);
    expect(interrupted.stderr).toMatch(/cancelled|interrupted/u);
    expect(await gptSignatures(target, (await stat(target)).size)).toEqual({ primary: false, backup: false });

    const second = trident(['stream-disk', url, '--target-image', target, '--resume']);
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(/partition 1 .* already written and re-verified; skipping/u);
    expect(second.stderr).not.toMatch(/Initializing 'partition-1'/u);
    expect((await sgdiskClean(target)).ok).toBe(true);
    await expect(stat(journal)).rejects.toThrow();
  });
});
