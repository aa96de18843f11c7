import { gzipSync } from 'node:zlib';
import { patternBytes } from '@trident/test-support/fault-server';
import type { HostileRegistry } from '@trident/test-support/hostile-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEDIA_COSI_LAYER, MEDIA_DOCKER_LIST, MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST } from './media-types.ts';
import { openOciSource } from './oci-source.ts';
import {
  cosi,
  type Descriptor,
  type FixtureRegistry,
  fast,
  refused,
  startFixtureRegistry,
} from './test-support/hostile-fixtures.ts';

// Resolution through indexes (platforms, nesting) and the layer media-type check, against the
// hostile registry.

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

describe('indexes and platforms', () => {
  const entry = (digest: string, size: number, platform: object) => ({
    mediaType: MEDIA_OCI_MANIFEST,
    digest,
    size,
    platform,
  });
  let amd64: string;
  let arm64: string;
  let arm64Size: number;

  beforeAll(() => {
    const armLayer = patternBytes(0, 4096, 64);
    const armBlob = {
      mediaType: MEDIA_COSI_LAYER,
      digest: registry.putBlob(armLayer),
      size: armLayer.length,
    };
    amd64 = registry.putManifest('platform/os', 'amd64', manifest(), MEDIA_OCI_MANIFEST);
    const armManifest = manifest([armBlob]);
    arm64 = registry.putManifest('platform/os', 'arm64', armManifest, MEDIA_OCI_MANIFEST);
    arm64Size = JSON.stringify(armManifest).length;
    registry.putManifest(
      'platform/os',
      'v1',
      {
        schemaVersion: 2,
        mediaType: MEDIA_OCI_INDEX,
        manifests: [
          entry(amd64, JSON.stringify(manifest()).length, { os: 'linux', architecture: 'amd64' }),
          entry(arm64, arm64Size, { os: 'linux', architecture: 'arm64' }),
        ],
      },
      MEDIA_OCI_INDEX,
    );
  });

  it('matches linux/arm64/v8 to a linux/arm64 entry (and aarch64 too), as containerd does', async () => {
    for (const platform of [
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
      { os: 'Linux', architecture: 'aarch64' },
    ]) {
      const source = await openOciSource(ref('platform/os'), { ...fast, platform });
      try {
        expect(source.size).toBe(4096);
        expect(source.manifestDigest).toBe(arm64);
      } finally {
        await source.close();
      }
    }
  });

  it('names the requested platform with its variant, and what the index has', async () => {
    const result = await refused(ref('platform/os'), {
      ...fast,
      platform: { os: 'linux', architecture: 'arm', variant: 'v6' },
    });
    expect(result.error.code).toBe('REMOTE_OCI_PLATFORM');
    expect(result.error.message).toContain('linux/arm/v6');
    expect(result.error.message).toContain('linux/amd64, linux/arm64');
  });

  it('follows a nested index with an Accept header that names index types', async () => {
    const inner = registry.putManifest(
      'platform/os',
      'inner',
      {
        schemaVersion: 2,
        mediaType: MEDIA_DOCKER_LIST,
        manifests: [entry(arm64, arm64Size, { os: 'linux', architecture: 'arm64' })],
      },
      MEDIA_DOCKER_LIST,
    );
    registry.putManifest(
      'platform/os',
      'outer',
      {
        schemaVersion: 2,
        mediaType: MEDIA_OCI_INDEX,
        manifests: [{ mediaType: MEDIA_DOCKER_LIST, digest: inner, size: 300 }],
      },
      MEDIA_OCI_INDEX,
    );
    const before = registry.requests.length;
    const source = await openOciSource(ref('platform/os', 'outer'), {
      ...fast,
      platform: { os: 'linux', architecture: 'arm64' },
    });
    await source.close();
    expect(source.manifestDigest).toBe(arm64);
    const nested = registry.requests.slice(before).find((r) => r.path.endsWith(`/manifests/${inner}`));
    expect(nested?.accept).toContain(MEDIA_OCI_INDEX);
    expect(nested?.accept).toContain(MEDIA_DOCKER_LIST);
  });
});

describe('layer media types', () => {
  it('refuses a gzip-compressed tar+gzip layer with a hint about the COSI layer type', async () => {
    const gz = gzipSync(cosi.subarray(0, 10_000));
    const digest = registry.putBlob(gz);
    registry.putManifest(
      'layer/gzip',
      'v1',
      manifest([{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: gz.length }]),
      MEDIA_OCI_MANIFEST,
    );
    const result = await refused(ref('layer/gzip'));
    expect(result.error.code).toBe('REMOTE_OCI_LAYERS');
    expect(result.error.message).toContain('tar+gzip');
    expect(result.error.message).toContain(MEDIA_COSI_LAYER);
  });

  it('reads a mislabelled but uncompressed layer (types are not enforced, as in Trident)', async () => {
    registry.putManifest(
      'layer/mislabelled',
      'v1',
      manifest([{ ...layer, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }]),
      MEDIA_OCI_MANIFEST,
    );
    const source = await openOciSource(ref('layer/mislabelled'), fast);
    try {
      expect(source.layerMediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
      expect(Buffer.from(await source.read(0, 100)).equals(cosi.subarray(0, 100))).toBe(true);
    } finally {
      await source.close();
    }
  });
});
