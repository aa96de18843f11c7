import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { patternBytes } from '@trident/test-support/fault-server';
import { type NginxServer, startNginx } from '@trident/test-support/nginx';
import { type RegistryServer, startRegistry } from '@trident/test-support/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthEvent, CHANNEL_AUTH, CHANNEL_WARNING, type WarningEvent } from './diagnostics.ts';
import { RemoteSourceError } from './errors.ts';
import { ARTIFACT_TYPE_COSI, MEDIA_COSI_LAYER, MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST } from './media-types.ts';
import { pushOci } from './oci-push.ts';
import { openOciSource } from './oci-source.ts';
import { openSource } from './open-source.ts';

const SIZE = 2 * 1024 * 1024 + 77;
const cosi = patternBytes(0, SIZE, 99);
const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
let work: string;
let cosiPath: string;

async function failure(promise: Promise<unknown>): Promise<RemoteSourceError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof RemoteSourceError) return err;
    throw err;
  }
  throw new Error('expected a RemoteSourceError');
}

function events<T>(name: string) {
  const list: T[] = [];
  const fn = (m: unknown) => list.push(m as T);
  subscribe(name, fn);
  return { list, stop: () => unsubscribe(name, fn) };
}

/** Raw pushes for fixtures our own push never makes (several layers, indexes). Open registry only. */
async function rawBlob(registry: RegistryServer, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const start = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  const location = new URL(start.headers.get('location')!, registry.url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    body: bytes,
    headers: { 'content-type': 'application/octet-stream' },
  });
  expect(put.status).toBe(201);
  return digest;
}

async function rawManifest(
  registry: RegistryServer,
  repo: string,
  ref: string,
  body: object,
  mediaType: string,
): Promise<string> {
  const bytes = Buffer.from(JSON.stringify({ mediaType, ...body }));
  const put = await fetch(`${registry.url}/v2/${repo}/manifests/${ref}`, {
    method: 'PUT',
    body: bytes,
    headers: { 'content-type': mediaType },
  });
  expect(put.status, await put.text()).toBe(201);
  return sha256(bytes);
}

async function drain(
  source: { stream(o: number, l: number): AsyncIterable<Uint8Array> },
  offset: number,
  length: number,
) {
  const parts: Uint8Array[] = [];
  for await (const c of source.stream(offset, length)) parts.push(c);
  return Buffer.concat(parts);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'trident-oci-test-'));
  cosiPath = join(work, 'demo.cosi');
  await writeFile(cosiPath, cosi);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('open registry with blob storage redirects (distribution + nginx)', () => {
  let storage: NginxServer;
  let registry: RegistryServer;

  beforeAll(async () => {
    storage = await startNginx();
    registry = await startRegistry({ auth: 'none', storageDir: storage.root, redirectBaseUrl: storage.url });
  });
  afterAll(async () => {
    await registry?.stop();
    await storage?.stop();
  });

  it('pushes a COSI as a one-layer artifact that skopeo reads and openSource reads back', async () => {
    const result = await pushOci(cosiPath, `oci://${registry.host}/cosi/demo:v1`);
    expect(result.layerDigest).toBe(sha256(cosi));
    expect(result.size).toBe(SIZE);
    const raw = await new Promise<string>((resolve, reject) =>
      execFile(
        'skopeo',
        ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/cosi/demo:v1`],
        (err, out, stderr) => (err ? reject(new Error(stderr)) : resolve(out)),
      ),
    );
    const manifest = JSON.parse(raw);
    expect(manifest.artifactType).toBe(ARTIFACT_TYPE_COSI);
    expect(manifest.mediaType).toBe(MEDIA_OCI_MANIFEST);
    expect(manifest.layers).toHaveLength(1);
    expect(manifest.layers[0].mediaType).toBe(MEDIA_COSI_LAYER);
    expect(manifest.layers[0].annotations['org.opencontainers.image.title']).toBe('demo.cosi');
    expect(sha256(Buffer.from(raw))).toBe(result.digest);

    const source = await openSource(`oci://${registry.host}/cosi/demo:v1`);
    try {
      expect(source.size).toBe(SIZE);
      expect(source.etag).toBe(result.layerDigest);
      expect(Buffer.from(await source.read(1000, 5000)).equals(cosi.subarray(1000, 6000))).toBe(true);
      expect((await drain(source, 0, SIZE)).equals(cosi)).toBe(true);
    } finally {
      await source.close();
    }
    // Blob bytes came from the storage server the registry redirected to, with ranges.
    const log = await storage.accessLog();
    expect(log).toMatch(/GET \/docker\/registry\/v2\/blobs\/sha256\/.+\/data 206 "bytes=1000-5999"/);
    // A second push finds the layer already there.
    expect((await pushOci(cosiPath, `oci://${registry.host}/cosi/demo:v2`)).layerExisted).toBe(true);
  });

  it('resolves a manifest digest reference (not read as the blob), and accepts a blob digest with a warning', async () => {
    const pushed = await pushOci(cosiPath, `oci://${registry.host}/cosi/bydigest:v1`);
    const byManifest = await openOciSource(`oci://${registry.host}/cosi/bydigest@${pushed.digest}`);
    expect(byManifest.digest).toBe(pushed.layerDigest);
    expect(byManifest.manifestDigest).toBe(pushed.digest);
    expect(byManifest.artifactType).toBe(ARTIFACT_TYPE_COSI);
    expect(Buffer.from(await byManifest.read(0, 100)).equals(cosi.subarray(0, 100))).toBe(true);
    await byManifest.close();
    const warnings = events<WarningEvent>(CHANNEL_WARNING);
    const byBlob = await openOciSource(`oci://${registry.host}/cosi/bydigest@${pushed.layerDigest}`);
    warnings.stop();
    expect(byBlob.size).toBe(SIZE);
    expect(warnings.list.map((w) => w.code)).toContain('BLOB_DIGEST_REFERENCE');
    await byBlob.close();
  });

  it('picks the host platform (or the given one) from an index', async () => {
    const repo = 'cosi/multi';
    const config = await rawBlob(registry, repo, Buffer.from('{}'));
    const make = async (text: string) => {
      const layer = Buffer.from(text);
      const layerDigest = await rawBlob(registry, repo, layer);
      const body = {
        schemaVersion: 2,
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: config, size: 2 },
        layers: [{ mediaType: MEDIA_COSI_LAYER, digest: layerDigest, size: layer.length }],
      };
      const digest = await rawManifest(
        registry,
        repo,
        sha256(Buffer.from(JSON.stringify({ mediaType: MEDIA_OCI_MANIFEST, ...body }))),
        body,
        MEDIA_OCI_MANIFEST,
      );
      return { digest, size: Buffer.byteLength(JSON.stringify({ mediaType: MEDIA_OCI_MANIFEST, ...body })) };
    };
    const amd = await make('amd64 bytes');
    const arm = await make('arm64 bytes!!');
    await rawManifest(
      registry,
      repo,
      'v1',
      {
        schemaVersion: 2,
        manifests: [
          { mediaType: MEDIA_OCI_MANIFEST, ...amd, platform: { os: 'linux', architecture: 'amd64' } },
          { mediaType: MEDIA_OCI_MANIFEST, ...arm, platform: { os: 'linux', architecture: 'arm64' } },
        ],
      },
      MEDIA_OCI_INDEX,
    );
    const host = process.arch === 'arm64' ? 'arm64 bytes!!' : 'amd64 bytes';
    const mine = await openSource(`oci://${registry.host}/${repo}:v1`);
    expect(Buffer.from(await mine.read(0, mine.size)).toString()).toBe(host);
    await mine.close();
    const other = await openSource(`oci://${registry.host}/${repo}:v1`, {
      platform: { os: 'linux', architecture: 'arm64' },
    });
    expect(Buffer.from(await other.read(0, other.size)).toString()).toBe('arm64 bytes!!');
    await other.close();
    const none = await failure(
      openSource(`oci://${registry.host}/${repo}:v1`, { platform: { os: 'linux', architecture: 's390x' } }),
    );
    expect(none.code).toBe('REMOTE_OCI_PLATFORM');
    expect(none.message).toContain('linux/amd64, linux/arm64');
  });

  it('refuses artifacts with more than one layer', async () => {
    const repo = 'cosi/twolayers';
    const config = await rawBlob(registry, repo, Buffer.from('{}'));
    const a = await rawBlob(registry, repo, Buffer.from('a'));
    const b = await rawBlob(registry, repo, Buffer.from('b'));
    await rawManifest(
      registry,
      repo,
      'v1',
      {
        schemaVersion: 2,
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: config, size: 2 },
        layers: [
          { mediaType: MEDIA_COSI_LAYER, digest: a, size: 1 },
          { mediaType: MEDIA_COSI_LAYER, digest: b, size: 1 },
        ],
      },
      MEDIA_OCI_MANIFEST,
    );
    const err = await failure(openSource(`oci://${registry.host}/${repo}:v1`));
    expect(err.code).toBe('REMOTE_OCI_LAYERS');
    expect(err.message).toContain('has 2 layers');
  });

  it('reports a missing tag within 2 s naming the reference and status', async () => {
    const started = Date.now();
    const err = await failure(openSource(`oci://${registry.host}/cosi/demo:nope`));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(err.code).toBe('REMOTE_NOT_FOUND');
    expect(err.message).toContain(`oci://${registry.host}/cosi/demo:nope`);
    expect(err.message).toContain('404');
  });

  it('verifies the digest of whole-blob reads', async () => {
    await pushOci(cosiPath, `oci://${registry.host}/cosi/corrupt:v1`);
    const blobDir = join(
      storage.root,
      'docker/registry/v2/blobs/sha256',
      sha256(cosi).slice(7, 9),
      sha256(cosi).slice(7),
    );
    const damaged = Buffer.from(cosi);
    damaged[12345] = (damaged[12345] ?? 0) ^ 0xff;
    await writeFile(join(blobDir, 'data'), damaged);
    try {
      const source = await openSource(`oci://${registry.host}/cosi/corrupt:v1`);
      // A partial read cannot be verified; a whole read is.
      expect((await source.read(0, 10)).length).toBe(10);
      const err = await failure(source.read(0, SIZE));
      expect(err.code).toBe('REMOTE_DIGEST_MISMATCH');
      await source.close();
    } finally {
      await writeFile(join(blobDir, 'data'), cosi);
    }
    expect(await readdir(blobDir)).toContain('data');
  });
});

describe('registry with basic auth (htpasswd)', () => {
  let registry: RegistryServer;
  beforeAll(async () => {
    registry = await startRegistry({ auth: 'htpasswd', users: { alice: 's3cret' } });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('pushes and pulls with credentials from options or a Docker config.json', async () => {
    const ref = `oci://${registry.host}/private/cosi:v1`;
    await pushOci(cosiPath, ref, {
      credentials: { username: 'alice', password: 's3cret' },
      dockerConfig: false,
    });
    const config = join(work, 'docker-config.json');
    await writeFile(
      config,
      JSON.stringify({
        auths: { [registry.host]: { auth: Buffer.from('alice:s3cret').toString('base64') } },
      }),
    );
    const source = await openSource(ref, { dockerConfig: config });
    expect(Buffer.from(await source.read(7, 7)).equals(cosi.subarray(7, 14))).toBe(true);
    await source.close();
  });

  it('fails fast with REMOTE_OCI_AUTH without credentials, and with rejected credentials for wrong ones', async () => {
    const ref = `oci://${registry.host}/private/cosi:v1`;
    const started = Date.now();
    const none = await failure(openSource(ref, { dockerConfig: false }));
    expect(none.code).toBe('REMOTE_OCI_AUTH');
    const wrong = await failure(openSource(ref, { credentials: { username: 'alice', password: 'nope' } }));
    expect(wrong.code).toBe('REMOTE_OCI_CREDENTIALS_REJECTED');
    expect(wrong.status).toBe(401);
    expect(wrong.message).toContain(registry.host);
    expect(wrong.message).toContain("user 'alice'");
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('registry behind a token server (Bearer)', () => {
  let registry: RegistryServer;
  beforeAll(async () => {
    registry = await startRegistry({
      auth: 'token',
      users: { bob: 'pw' },
      tokenTtlSeconds: -58,
      anonymousPull: ['public/'],
    });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('pushes with credentials, pulls anonymously with a scoped token and refreshes it on 401', async () => {
    await pushOci(cosiPath, `oci://${registry.host}/public/cosi:v1`, {
      credentials: { username: 'bob', password: 'pw' },
    });
    expect(
      registry.tokenRequests.some((r) => r.user === 'bob' && r.scope === 'repository:public/cosi:pull,push'),
    ).toBe(true);
    registry.tokenRequests.length = 0;
    const auth = events<AuthEvent>(CHANNEL_AUTH);
    const source = await openSource(`oci://${registry.host}/public/cosi:v1`, { dockerConfig: false });
    try {
      expect(Buffer.from(await source.read(0, 64)).equals(cosi.subarray(0, 64))).toBe(true);
      expect(registry.tokenRequests[0]).toMatchObject({
        user: null,
        scope: 'repository:public/cosi:pull',
        service: 'trident-test-registry',
      });
      const before = registry.tokenRequests.length;
      await new Promise((r) => setTimeout(r, 2100));
      expect(Buffer.from(await source.read(SIZE - 64, 64)).equals(cosi.subarray(SIZE - 64))).toBe(true);
      expect(registry.tokenRequests.length).toBeGreaterThan(before);
      expect(auth.list.map((a) => a.scheme)).toContain('refresh');
    } finally {
      auth.stop();
      await source.close();
    }
  });

  it('denies an anonymous push and a private pull with REMOTE_OCI_AUTH', async () => {
    const push = await failure(
      pushOci(cosiPath, `oci://${registry.host}/public/cosi:v2`, { dockerConfig: false }),
    );
    expect(push.code).toBe('REMOTE_OCI_AUTH');
    await pushOci(cosiPath, `oci://${registry.host}/private/cosi:v1`, {
      credentials: { username: 'bob', password: 'pw' },
    });
    const pull = await failure(openSource(`oci://${registry.host}/private/cosi:v1`, { dockerConfig: false }));
    expect(pull.code).toBe('REMOTE_OCI_AUTH');
    const ok = await openSource(`oci://${registry.host}/private/cosi:v1`, {
      credentials: { username: 'bob', password: 'pw' },
    });
    expect(ok.size).toBe(SIZE);
    await ok.close();
  });
});
