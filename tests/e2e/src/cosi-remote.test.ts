import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCosi } from '@trident/cosi-format';
import { createDemoDiskImage } from '@trident/test-support/disk-image';
import { type NginxServer, startNginx } from '@trident/test-support/nginx';
import { type RegistryServer, startRegistry } from '@trident/test-support/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trident } from './run-cli.ts';

let dir: string;
let nginx: NginxServer;
let registry: RegistryServer;
let cosiPath: string;
let metadataSha384: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trident-remote-'));
  await createDemoDiskImage({ path: join(dir, 'disk.img'), sizeMiB: 256, espMiB: 32, rootMiB: 128 });
  cosiPath = join(dir, 'demo.cosi');
  metadataSha384 = (await buildCosi({ input: join(dir, 'disk.img'), output: cosiPath })).metadataSha384;
  nginx = await startNginx();
  await copyFile(cosiPath, join(nginx.root, 'demo.cosi'));
  registry = await startRegistry({ auth: 'htpasswd', users: { builder: 's3cret' } });
});

afterAll(async () => {
  await nginx?.stop();
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('remote COSI sources through the CLI', () => {
  it('inspects and validates over HTTP with range requests', async () => {
    const url = `${nginx.url}/demo.cosi`;
    const inspect = trident(['cosi', 'inspect', url, '--json']);
    expect(inspect.stderr).toBe('');
    expect(JSON.parse(inspect.stdout).metadataSha384).toBe(metadataSha384);
    const validate = trident([
      'cosi',
      'validate',
      url,
      '--profile',
      'spec',
      '--sha384',
      `sha384:${metadataSha384}`,
    ]);
    expect(validate.stdout).toContain('valid (spec profile): 0 error(s)');
    expect(validate.code).toBe(0);
    expect(await nginx.accessLog()).toMatch(/ 206 /u);
  });

  it('names the status and URL when the file is missing', () => {
    const missing = trident(['cosi', 'inspect', `${nginx.url}/nope.cosi`]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/404/u);
    expect(missing.stderr).toContain('/nope.cosi');
  });

  it('pushes to an authenticated registry and reads it back by tag and by digest', () => {
    const reference = `oci://${registry.host}/os/demo:1.0`;
    const denied = trident(['cosi', 'push', cosiPath, reference]);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/401|denied|credentials/iu);

    const push = trident(
      ['cosi', 'push', cosiPath, reference, '--username', 'builder', '--password-stdin', '--json'],
      { input: 's3cret\n' },
    );
    expect(push.stderr).toBe('');
    expect(push.code).toBe(0);
    const pushed = JSON.parse(push.stdout) as { digest: string; metadataSha384: string };
    expect(pushed.metadataSha384).toBe(metadataSha384);

    const env = { TRIDENT_REGISTRY_PASSWORD: 's3cret' };
    const byTag = trident(['cosi', 'inspect', reference, '--username', 'builder', '--json'], { env });
    expect(JSON.parse(byTag.stdout).metadataSha384).toBe(metadataSha384);
    const byDigest = trident(
      ['cosi', 'validate', `oci://${registry.host}/os/demo@${pushed.digest}`, '--username', 'builder'],
      { env },
    );
    expect(byDigest.stdout).toContain('valid (trident profile)');
    expect(byDigest.code).toBe(0);
  });
});
