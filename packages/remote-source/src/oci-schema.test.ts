import type { HostileRegistry } from '@trident/test-support/hostile-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST } from './media-types.ts';
import {
  type Descriptor,
  type FixtureRegistry,
  fast,
  refused,
  startFixtureRegistry,
} from './test-support/hostile-fixtures.ts';

// Manifests and indexes of every wrong shape, served by the hostile registry: each is a coded
// REMOTE_OCI_MANIFEST with its JSON path, and no digest that is not one ever reaches the wire.

let fixture: FixtureRegistry;
let registry: HostileRegistry;
let layer: Descriptor;
const manifest = (layers?: unknown[]) => fixture.manifest(layers);
const ref = (repo: string, tag = 'v1') => fixture.ref(repo, tag);

beforeAll(async () => {
  fixture = await startFixtureRegistry();
  ({ registry, layer } = fixture);
});
afterAll(async () => {
  await registry?.stop();
});

describe('malformed manifests and indexes', () => {
  it.each([
    ['null', 'null', MEDIA_OCI_MANIFEST, '$'],
    ['an array', '[]', MEDIA_OCI_MANIFEST, '$'],
    ['schemaVersion 1', () => ({ ...manifest(), schemaVersion: 1 }), MEDIA_OCI_MANIFEST, 'schemaVersion'],
    ['layers as a string', () => ({ ...manifest(), layers: 'layer' }), MEDIA_OCI_MANIFEST, 'layers'],
    ['a null layer', () => ({ ...manifest(), layers: [null] }), MEDIA_OCI_MANIFEST, 'layers[0]'],
    [
      'no config',
      { schemaVersion: 2, mediaType: MEDIA_OCI_MANIFEST, layers: [] },
      MEDIA_OCI_MANIFEST,
      'config',
    ],
    [
      'a size as text',
      () => ({ ...manifest(), layers: [{ ...layer, size: '1' }] }),
      MEDIA_OCI_MANIFEST,
      'layers[0].size',
    ],
    [
      'a layer without mediaType',
      () => ({ ...manifest(), layers: [{ digest: layer.digest, size: 1 }] }),
      MEDIA_OCI_MANIFEST,
      'layers[0].mediaType',
    ],
    [
      'a negative size',
      () => ({ ...manifest(), layers: [{ ...layer, size: -1 }] }),
      MEDIA_OCI_MANIFEST,
      'layers[0].size',
    ],
    ['mediaType as a number', () => ({ ...manifest(), mediaType: 7 }), MEDIA_OCI_MANIFEST, 'mediaType'],
    [
      'manifests as a string',
      { schemaVersion: 2, mediaType: MEDIA_OCI_INDEX, manifests: 'x' },
      MEDIA_OCI_INDEX,
      'manifests',
    ],
    [
      'a null index entry',
      { schemaVersion: 2, mediaType: MEDIA_OCI_INDEX, manifests: [null] },
      MEDIA_OCI_INDEX,
      'manifests[0]',
    ],
    [
      'a platform as a string',
      () => ({
        schemaVersion: 2,
        mediaType: MEDIA_OCI_INDEX,
        manifests: [{ ...layer, mediaType: MEDIA_OCI_MANIFEST, platform: 'linux' }],
      }),
      MEDIA_OCI_INDEX,
      'manifests[0].platform',
    ],
  ])('%s: REMOTE_OCI_MANIFEST at its JSON path', async (name, body, mediaType, path) => {
    const repo = `malformed/${name.replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}`;
    const document = typeof body === 'function' ? body() : body;
    registry.putManifest(
      repo,
      'v1',
      typeof document === 'string' ? document : (document as object),
      mediaType,
    );
    const result = await refused(ref(repo));
    expect(result.error.code).toBe('REMOTE_OCI_MANIFEST');
    expect(result.error.path).toBe(path);
    expect(result.error.message).toContain(path === '$' ? 'top level' : path);
  });
});

describe('digests are checked before they are fetched', () => {
  it.each([
    ['layers[0].digest', 'sha256:../../etc', 'layer'],
    ['layers[0].digest', `sha256:${'A'.repeat(64)}`, 'layer'],
    ['layers[0].digest', `sha512:${'a'.repeat(64)}`, 'layer'],
    ['manifests[0].digest', 'sha256:../../../v2/other/manifests/v1', 'index'],
  ])('%s %s', async (path, digest, kind) => {
    const repo = `digest/${kind}-${Buffer.from(digest).toString('hex').slice(0, 24)}`;
    const body =
      kind === 'layer'
        ? manifest([{ ...layer, digest }])
        : {
            schemaVersion: 2,
            mediaType: MEDIA_OCI_INDEX,
            manifests: [
              {
                mediaType: MEDIA_OCI_MANIFEST,
                digest,
                size: 100,
                platform: { os: 'linux', architecture: 'amd64' },
              },
            ],
          };
    registry.putManifest(repo, 'v1', body, kind === 'layer' ? MEDIA_OCI_MANIFEST : MEDIA_OCI_INDEX);
    const before = registry.requests.length;
    const result = await refused(ref(repo), { ...fast, platform: { os: 'linux', architecture: 'amd64' } });
    expect(result.error.code).toBe('REMOTE_OCI_MANIFEST');
    expect(result.error.path).toBe(path);
    // Only the manifest itself was fetched: nothing built from the bad digest reached the wire.
    expect(registry.requests.slice(before).map((r) => r.path)).toEqual([`/v2/${repo}/manifests/v1`]);
  });
});
