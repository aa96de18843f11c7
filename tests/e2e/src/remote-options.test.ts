import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { patternBytes } from '@trident/test-support/fault-server';
import { type HostileServer, startHostileHttp } from '@trident/test-support/hostile-http';
import { type HostileRegistry, startHostileRegistry } from '@trident/test-support/hostile-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The remote-source flags of the real CLI against our hostile servers: bad values are usage errors
// (exit 2), good ones reach the wire, and every limit ends a hostile transfer with a coded error.
// The servers run in this process, so the CLI is spawned asynchronously (spawnSync would block them).

const MAIN = resolve(import.meta.dirname, '../../../apps/cli/src/main.ts');
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const LAYER = 'application/vnd.oci.image.layer.v1.tar';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

function trident(args: string[], input?: string): Promise<Run> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--conditions=@trident/source', MAIN, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, DOCKER_CONFIG: '/nonexistent', TRIDENT_REGISTRY_PASSWORD: '' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolveRun) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr, elapsedMs: performance.now() - started });
    }),
  );
}

let registry: HostileRegistry;
let http: HostileServer;
let arm64Manifest: string;
let arm64Blob: string;

beforeAll(async () => {
  registry = await startHostileRegistry({ auth: 'basic', users: { builder: 's3cret' } });
  http = await startHostileHttp();
  const config = {
    mediaType: 'application/vnd.oci.empty.v1+json',
    digest: registry.putBlob(Buffer.from('{}')),
    size: 2,
  };
  const blob = (seed: number) => {
    const bytes = patternBytes(0, 2048, seed);
    return { mediaType: LAYER, digest: registry.putBlob(bytes), size: bytes.length };
  };
  const amd = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [blob(1)] };
  const armLayer = blob(2);
  arm64Blob = armLayer.digest;
  const arm = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [armLayer] };
  const amdDigest = registry.putManifest('wire/os', 'amd64', amd, OCI_MANIFEST);
  arm64Manifest = registry.putManifest('wire/os', 'arm64', arm, OCI_MANIFEST);
  registry.putManifest(
    'wire/os',
    'v1',
    {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: amdDigest,
          size: JSON.stringify(amd).length,
          platform: { os: 'linux', architecture: 'amd64' },
        },
        {
          mediaType: OCI_MANIFEST,
          digest: arm64Manifest,
          size: JSON.stringify(arm).length,
          platform: { os: 'linux', architecture: 'arm64' },
        },
      ],
    },
    OCI_INDEX,
  );
});

afterAll(async () => {
  await registry?.stop();
  await http?.stop();
});

describe('remote-source flags of the trident CLI', () => {
  it.each([
    [['--password-stdin'], '--username'],
    [['--timeout', '10x'], '--timeout'],
    [['--min-throughput', 'fast'], '--min-throughput'],
    [['--throughput-window', 'soon'], '--throughput-window'],
    [['--platform', 'linux'], '--platform'],
  ])('exits 2 on %j before touching the network', async (flags, named) => {
    const before = registry.requests.length;
    const run = await trident(['cosi', 'inspect', `oci://${registry.host}/wire/os:v1`, ...flags]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(named);
    expect(registry.requests.length).toBe(before);
  });

  it('refuses cosi push to a digest reference with exit 2, uploading nothing', async () => {
    const before = registry.requests.length;
    const run = await trident([
      'cosi',
      'push',
      'missing.cosi',
      `oci://${registry.host}/wire/os@sha256:${'a'.repeat(64)}`,
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('names a digest');
    expect(registry.requests.length).toBe(before);
  });

  it('sends credentials, extra headers and the normalised platform to the registry', async () => {
    const before = registry.requests.length;
    const run = await trident(
      [
        'cosi',
        'inspect',
        `oci://${registry.host}/wire/os:v1`,
        '--username',
        'builder',
        '--password-stdin',
        '--platform',
        'linux/arm64/v8',
        '--header',
        'X-Probe: wire-test',
        '--timeout',
        '30s',
        '--min-throughput',
        '1KiB',
      ],
      's3cret\n',
    );
    // The arm64 layer is no COSI, so inspect fails after reading it: what matters is what it asked for.
    expect(run.stderr).not.toContain('REMOTE_');
    const sent = registry.requests.slice(before);
    const paths = sent.map((r) => r.path);
    expect(paths).toContain(`/v2/wire/os/manifests/${arm64Manifest}`);
    expect(paths).toContain(`/v2/wire/os/blobs/${arm64Blob}`);
    expect(sent.every((r) => r.headers['x-probe'] === 'wire-test')).toBe(true);
    const basic = `Basic ${Buffer.from('builder:s3cret').toString('base64')}`;
    expect(sent.some((r) => r.authorization === basic)).toBe(true);
  });

  it('reports a wrong password as rejected credentials (exit 3), naming registry and user', async () => {
    const run = await trident(
      ['cosi', 'inspect', `oci://${registry.host}/wire/os:v1`, '--username', 'builder', '--password-stdin'],
      'wrong\n',
    );
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('REMOTE_OCI_CREDENTIALS_REJECTED');
    expect(run.stderr).toContain(registry.host);
    expect(run.stderr).toContain("user 'builder'");
  });

  it('--timeout ends a trickling registry with REMOTE_TIMEOUT naming the flag', async () => {
    registry.route('GET', '/v2/wire/slow/manifests/v1', {
      kind: 'endless',
      headers: { 'content-type': OCI_MANIFEST },
      bytesPerTick: 1,
      tickMs: 100,
    });
    const run = await trident(
      [
        'cosi',
        'inspect',
        `oci://${registry.host}/wire/slow:v1`,
        '--username',
        'builder',
        '--password-stdin',
        '--timeout',
        '1500ms',
        '--min-throughput',
        '0',
      ],
      's3cret\n',
    );
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('REMOTE_TIMEOUT');
    expect(run.stderr).toContain('--timeout');
    expect(run.elapsedMs).toBeLessThan(40_000); // seconds, not the hours a 10 B/s manifest would take
  });

  it('--min-throughput ends a trickling HTTP server with REMOTE_TOO_SLOW naming the limit', async () => {
    http.route('/slow.cosi', { kind: 'trickle', size: 1024 * 1024, bytesPerTick: 64, tickMs: 20 });
    const run = await trident([
      'cosi',
      'inspect',
      `${http.url}/slow.cosi`,
      '--min-throughput',
      '64KiB',
      '--throughput-window',
      '300ms',
    ]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('REMOTE_TOO_SLOW');
    expect(run.stderr).toContain('64 KiB/s');
    expect(run.elapsedMs).toBeLessThan(45_000); // retries with backoff, not the minutes of a 3 KB/s trickle
  });

  it('suggests http:// at once for an https:// URL served in plain HTTP', async () => {
    http.route('/plain.cosi', { kind: 'fixed', status: 200, body: 'x' });
    const run = await trident(['cosi', 'inspect', `https://127.0.0.1:${http.port}/plain.cosi`]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('REMOTE_TLS');
    expect(run.stderr).toContain('plain-HTTP');
  });
});
