import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { patternBytes } from '@trident/test-support/fault-server';
import { type HostileRegistry, startHostileRegistry } from '@trident/test-support/hostile-registry';
import { trackResources } from '@trident/test-support/resource-use';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteSourceError } from './errors.ts';
import { MEDIA_COSI_LAYER, MEDIA_OCI_MANIFEST } from './media-types.ts';
import { pushOci } from './oci-push.ts';
import { openOciSource } from './oci-source.ts';
import {
  cosi,
  type Descriptor,
  type FixtureRegistry,
  fast,
  MEMORY_BOUND,
  MiB,
  refused,
  SECONDS,
  SIZE,
  startFixtureRegistry,
} from './test-support/hostile-fixtures.ts';

// A registry of our own that never stops sending, fails blobs and lies about sizes, on loopback:
// every attack ends in seconds with a coded error, and the client's memory stays bounded.

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
    expect(result.elapsedMs).toBeLessThan(SECONDS);
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
    expect(result.retries).toBe(0);
    expect(requestsTo(/^\/v2\/huge\/manifest\/manifests/)).toHaveLength(1);
  });

  it('quotes at most a few KiB of an endless error body', async () => {
    registry.route('GET', '/v2/endless/error/manifests/v1', { kind: 'endless', status: 400, fill: 'E' });
    const result = await refused(ref('endless/error'));
    expect(result.error.code).toBe('REMOTE_HTTP_STATUS');
    expect(result.error.status).toBe(400);
    expect(result.error.message.length).toBeLessThan(8 * 1024);
    expect(result.rss).toBeLessThan(MEMORY_BOUND);
    expect(result.elapsedMs).toBeLessThan(SECONDS);
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
      expect(use.elapsedMs).toBeLessThan(SECONDS);
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
    expect(result.elapsedMs).toBeLessThan(SECONDS);
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
    expect(result.elapsedMs).toBeLessThan(SECONDS);
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
    expect(result.retries).toBe(0);
  });
});
