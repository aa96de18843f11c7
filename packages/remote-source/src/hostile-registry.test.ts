import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { patternBytes } from '@trident/test-support/fault-server';
import { trackResources } from '@trident/test-support/hostile-http';
import { type HostileRegistry, startHostileRegistry } from '@trident/test-support/hostile-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteSourceError } from './errors.ts';
import { type OciOptions, openOciSource, pushOci } from './index.ts';
import {
  MEDIA_COSI_LAYER,
  MEDIA_DOCKER_LIST,
  MEDIA_OCI_EMPTY,
  MEDIA_OCI_INDEX,
  MEDIA_OCI_MANIFEST,
} from './media-types.ts';

// A registry of our own that lies, on loopback. Limits are small so every attack ends in seconds;
// memory is checked so no attack can make the client buffer what the server sends.
const MiB = 1024 * 1024;
const MEMORY_BOUND = 64 * MiB;
const SIZE = 300 * 1024 + 5;
const cosi = patternBytes(0, SIZE, 5);
const fast: OciOptions = {
  dockerConfig: false,
  retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 20 },
  idleTimeoutMs: 2000,
};

let registry: HostileRegistry;
let layer: { mediaType: string; digest: string; size: number };
let config: { mediaType: string; digest: string; size: number };

beforeAll(async () => {
  registry = await startHostileRegistry();
  layer = { mediaType: MEDIA_COSI_LAYER, digest: registry.putBlob(cosi), size: SIZE };
  config = { mediaType: MEDIA_OCI_EMPTY, digest: registry.putBlob(Buffer.from('{}')), size: 2 };
});
afterAll(async () => {
  await registry?.stop();
});

const manifest = (layers: unknown[] = [layer]) => ({
  schemaVersion: 2,
  mediaType: MEDIA_OCI_MANIFEST,
  config,
  layers,
});
const ref = (repo: string, tag = 'v1') => `oci://${registry.host}/${repo}:${tag}`;

/** Opens, expects a RemoteSourceError, and reports the time and memory the attempt cost. */
async function refused(reference: string, options: OciOptions = fast) {
  const use = await trackResources(() => openOciSource(reference, options));
  if (use.result.ok) {
    await use.result.value.close();
    throw new Error(`expected ${reference} to be refused`);
  }
  const error = use.result.error;
  if (!(error instanceof RemoteSourceError)) throw error;
  return { error, elapsedMs: use.elapsedMs, rss: use.peakRssGrowth };
}

const requestsTo = (pattern: RegExp) => registry.requests.filter((r) => pattern.test(r.path));

describe('bodies a registry never stops sending', () => {
  it('refuses an endless manifest at maxManifestBytes, naming the URL and the limit', async () => {
    registry.route('GET', '/v2/endless/manifest/manifests/v1', {
      kind: 'endless',
      headers: { 'content-type': MEDIA_OCI_MANIFEST },
      fill: ' ',
    });
    const result = await refused(ref('endless/manifest'));
    expect(result.error.code).toBe('REMOTE_BODY_TOO_LARGE');
    expect(result.error.message).toContain('/v2/endless/manifest/manifests/v1');
    expect(result.error.message).toContain('maxManifestBytes 4194304');
    expect(result.rss).toBeLessThan(MEMORY_BOUND);
    expect(result.elapsedMs).toBeLessThan(5000);
    expect(registry.bytesSent()).toBeLessThan(MEMORY_BOUND);
  });

  it('refuses a declared 10 GiB manifest before reading it, without retrying', async () => {
    registry.route('GET', '/v2/huge/manifest/manifests/v1', {
      kind: 'content-length',
      value: String(10 * 1024 * MiB),
      headers: { 'Content-Type': MEDIA_OCI_MANIFEST },
    });
    const result = await refused(ref('huge/manifest'));
    expect(result.error.code).toBe('REMOTE_BODY_TOO_LARGE');
    expect(result.error.message).toContain('10 GiB');
    expect(requestsTo(/^\/v2\/huge\/manifest\/manifests/)).toHaveLength(1);
  });

  it('quotes at most a few KiB of an endless error body', async () => {
    registry.route('GET', '/v2/endless/error/manifests/v1', { kind: 'endless', status: 400, fill: 'E' });
    const result = await refused(ref('endless/error'));
    expect(result.error.code).toBe('REMOTE_HTTP_STATUS');
    expect(result.error.status).toBe(400);
    expect(result.error.message.length).toBeLessThan(8 * 1024);
    expect(result.rss).toBeLessThan(MEMORY_BOUND);
    expect(result.elapsedMs).toBeLessThan(3000);
  });

  it('refuses an endless token response', async () => {
    const tokenRegistry = await startHostileRegistry({ auth: 'token' });
    try {
      tokenRegistry.route('GET', '/token', {
        kind: 'endless',
        headers: { 'content-type': 'application/json' },
      });
      const use = await trackResources(() => openOciSource(`oci://${tokenRegistry.host}/any/repo:v1`, fast));
      expect(use.result.ok).toBe(false);
      const error = (use.result as { error: RemoteSourceError }).error;
      expect(error.code).toBe('REMOTE_BODY_TOO_LARGE');
      expect(error.message).toContain('token response');
      expect(use.peakRssGrowth).toBeLessThan(MEMORY_BOUND);
      expect(use.elapsedMs).toBeLessThan(5000);
    } finally {
      await tokenRegistry.stop();
    }
  });

  it('ends a trickling manifest at the minimum throughput', async () => {
    registry.route('GET', '/v2/slow/manifest/manifests/v1', {
      kind: 'endless',
      headers: { 'content-type': MEDIA_OCI_MANIFEST },
      bytesPerTick: 1,
      tickMs: 20,
    });
    const result = await refused(ref('slow/manifest'), {
      ...fast,
      minBytesPerSecond: 1024,
      throughputWindowMs: 200,
    });
    expect(result.error.code).toBe('REMOTE_TOO_SLOW');
    expect(result.elapsedMs).toBeLessThan(3000);
  });
});

describe('blob failures report the real status or size', () => {
  it.each([
    ['404', 404, 'REMOTE_NOT_FOUND'],
    ['500', 500, 'REMOTE_RETRIES_EXHAUSTED'],
  ] as const)('blob %s', async (name, status, code) => {
    const blob = patternBytes(0, 1000, status);
    const digest = `sha256:${(await import('node:crypto')).createHash('sha256').update(blob).digest('hex')}`;
    registry.putManifest(
      `blob/${name}`,
      'v1',
      manifest([{ mediaType: MEDIA_COSI_LAYER, digest, size: 1000 }]),
      MEDIA_OCI_MANIFEST,
    );
    registry.route('*', `/v2/blob/${name}/blobs/${digest}`, {
      kind: 'endless',
      status,
      bytesPerTick: 100,
      tickMs: 10,
    });
    const result = await refused(ref(`blob/${name}`));
    expect(result.error.code).toBe(code);
    expect(result.error.status).toBe(status);
    expect(result.error.message).toContain(String(status));
    expect(result.error.message).not.toContain('UND_ERR_DESTROYED');
    expect(result.elapsedMs).toBeLessThan(5000);
  });

  it('a blob whose size differs from its descriptor', async () => {
    registry.putManifest('blob/size', 'v1', manifest([{ ...layer, size: SIZE + 1 }]), MEDIA_OCI_MANIFEST);
    const result = await refused(ref('blob/size'));
    expect(result.error.code).toBe('REMOTE_CHANGED');
    expect(result.error.message).toContain(`${SIZE} bytes`);
    expect(result.error.message).toContain(`${SIZE + 1}`);
  });

  it('a blob served short of its Content-Range', async () => {
    registry.putManifest('blob/short', 'v1', manifest(), MEDIA_OCI_MANIFEST);
    const source = await openOciSource(ref('blob/short'), fast);
    try {
      // Every ranged GET answers truthfully, then the connection drops after 100 bytes.
      registry.route('GET', `/v2/blob/short/blobs/${layer.digest}`, (req, res) => {
        const [, a, b] = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '') ?? [];
        const start = Number(a ?? 0);
        const end = Number(b ?? SIZE - 1);
        res.writeHead(206, {
          'content-length': String(end - start + 1),
          'content-range': `bytes ${start}-${end}/${SIZE}`,
        });
        res.write(cosi.subarray(start, start + 100), () => res.destroy());
      });
      let error: unknown;
      try {
        await source.read(0, SIZE);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(RemoteSourceError);
      expect((error as RemoteSourceError).code).toBe('REMOTE_RETRIES_EXHAUSTED');
      expect((error as RemoteSourceError).message).toMatch(/other side closed|short body|terminated/);
    } finally {
      await source.close();
    }
  });
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

describe('credentials', () => {
  let basic: HostileRegistry;
  let token: HostileRegistry;
  let work: string;

  beforeAll(async () => {
    basic = await startHostileRegistry({ auth: 'basic', users: { builder: 's3cret' } });
    token = await startHostileRegistry({ auth: 'token', users: { builder: 's3cret' }, anonymous: false });
    for (const r of [basic, token]) {
      const digest = r.putBlob(cosi);
      r.putManifest('private/os', 'v1', manifest([{ ...layer, digest }]), MEDIA_OCI_MANIFEST);
    }
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
      expect(result.elapsedMs).toBeLessThan(2000);
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

describe('push and transport', () => {
  it('refuses to push to a digest reference before uploading anything', async () => {
    const work = await mkdtemp(join(tmpdir(), 'trident-hostile-push-'));
    try {
      const file = join(work, 'a.cosi');
      await writeFile(file, cosi);
      const before = registry.requests.length;
      const digest = `sha256:${'0'.repeat(64)}`;
      let error: unknown;
      try {
        await pushOci(file, `oci://${registry.host}/push/os@${digest}`, fast);
      } catch (err) {
        error = err;
      }
      expect((error as RemoteSourceError).code).toBe('REMOTE_OCI_PUSH');
      expect((error as RemoteSourceError).message).toContain('names a digest');
      expect(registry.requests.length).toBe(before);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('suggests --plain-http at once when HTTPS reaches a plain-HTTP registry', async () => {
    registry.putManifest('tls/os', 'v1', manifest(), MEDIA_OCI_MANIFEST);
    const result = await refused(ref('tls/os'), {
      ...fast,
      plainHttp: false,
      retry: { attempts: 6, baseDelayMs: 500 },
    });
    expect(result.error.code).toBe('REMOTE_TLS');
    expect(result.error.message).toContain('--plain-http');
    expect(result.elapsedMs).toBeLessThan(1000);
  });
});
