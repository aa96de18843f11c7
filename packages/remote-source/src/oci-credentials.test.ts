import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostileRegistry } from '@trident/test-support/hostile-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEDIA_OCI_MANIFEST } from './media-types.ts';
import { openOciSource } from './oci-source.ts';
import { fast, refused, startFixtureRegistry } from './test-support/hostile-fixtures.ts';

// Wrong passwords and credential-helper-only Docker configs against Basic and token registries.

describe('credentials', () => {
  let basic: HostileRegistry;
  let token: HostileRegistry;
  let work: string;

  beforeAll(async () => {
    const users = { builder: 's3cret' };
    const basicFixture = await startFixtureRegistry({ auth: 'basic', users });
    const tokenFixture = await startFixtureRegistry({ auth: 'token', users, anonymous: false });
    for (const fixture of [basicFixture, tokenFixture])
      fixture.registry.putManifest('private/os', 'v1', fixture.manifest(), MEDIA_OCI_MANIFEST);
    basic = basicFixture.registry;
    token = tokenFixture.registry;
    work = await mkdtemp(join(tmpdir(), 'trident-hostile-auth-'));
  });
  afterAll(async () => {
    await basic?.stop();
    await token?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('reports a wrong password as rejected credentials, naming registry and user (Basic and token)', async () => {
    for (const r of [basic, token]) {
      const result = await refused(`oci://${r.host}/private/os:v1`, {
        ...fast,
        credentials: { username: 'builder', password: 'wrong' },
      });
      expect(result.error.code).toBe('REMOTE_OCI_CREDENTIALS_REJECTED');
      expect(result.error.message).toContain(r.host);
      expect(result.error.message).toContain("user 'builder'");
      expect(result.retries).toBe(0);
    }
    const good = await openOciSource(`oci://${token.host}/private/os:v1`, {
      ...fast,
      credentials: { username: 'builder', password: 's3cret' },
    });
    await good.close();
  });

  it('explains that credential helpers are not run when the docker config only names one', async () => {
    const file = join(work, 'helpers.json');
    await writeFile(
      file,
      JSON.stringify({ auths: { [basic.host]: {} }, credHelpers: { [basic.host]: 'ecr-login' } }),
    );
    const result = await refused(`oci://${basic.host}/private/os:v1`, { ...fast, dockerConfig: file });
    expect(result.error.code).toBe('REMOTE_OCI_AUTH');
    expect(result.error.message).toContain('docker-credential-ecr-login');
    expect(result.error.message).toContain('does not run credential helpers');
    expect(result.error.message).toContain('--password-stdin');
    const store = join(work, 'store.json');
    await writeFile(store, JSON.stringify({ credsStore: 'desktop' }));
    const tokenResult = await refused(`oci://${token.host}/private/os:v1`, { ...fast, dockerConfig: store });
    expect(tokenResult.error.code).toBe('REMOTE_OCI_AUTH');
    expect(tokenResult.error.message).toContain('docker-credential-desktop');
  });
});
