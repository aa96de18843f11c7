/**
 * Remote-source options reach the wire from every command that opens a source: stream-disk and
 * install take the same flags as `cosi inspect`/`validate`, typed once (--header, --ca-file,
 * --plain-http, --platform, --username with --password-stdin or TRIDENT_REGISTRY_PASSWORD), and
 * refuse invalid values instead of dropping them. A loopback HTTP(S) server records what arrives;
 * the distribution registry with htpasswd serves a two-platform index.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCosi } from '@trident/cosi-format';
import { MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST } from '@trident/remote-source';
import { createDemoDiskImage } from '@trident/test-support/disk-image';
import { type RegistryServer, startRegistry } from '@trident/test-support/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CosiServer, selfSignedCertificate, serveCosi, type TlsFiles } from './cosi-server.ts';
import { sgdiskClean } from './disk-checks.ts';
import { trident, tridentAsync } from './run-cli.ts';

let dir: string;
let amd64: { path: string; sha: string };
let arm64: { path: string; sha: string };
let http: CosiServer;
let https: CosiServer;
let tls: TlsFiles;
let registry: RegistryServer;
let counter = 0;
const USER = 'builder';
const PASSWORD = 'pull-s3cret';
const auth = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trident-srcopts-'));
  await createDemoDiskImage({ path: join(dir, 'disk.img'), sizeMiB: 128, espMiB: 16, rootMiB: 64 });
  const build = async (osArch: string) => {
    const path = join(dir, `${osArch}.cosi`);
    return {
      path,
      sha: (await buildCosi({ input: join(dir, 'disk.img'), output: path, osArch })).metadataSha384,
    };
  };
  amd64 = await build('x86_64');
  arm64 = await build('arm64');
  tls = await selfSignedCertificate(dir);
  http = await serveCosi(amd64.path);
  https = await serveCosi(amd64.path, { tls });
  registry = await startRegistry({ auth: 'htpasswd', users: { [USER]: PASSWORD } });
  // One tag per platform, pushed by the CLI itself, then an index over both (linux/amd64, linux/arm64).
  const manifests = [];
  for (const [cosi, architecture] of [
    [amd64, 'amd64'],
    [arm64, 'arm64'],
  ] as const) {
    const pushed = trident(
      [
        'cosi',
        'push',
        cosi.path,
        `oci://${registry.host}/os/multi:${architecture}`,
        '--username',
        USER,
        '--password-stdin',
        '--json',
      ],
      { input: `${PASSWORD}\n` },
    );
    expect(pushed.code, pushed.stderr).toBe(0);
    const { digest } = JSON.parse(pushed.stdout) as { digest: string };
    const manifest = await fetch(`${registry.url}/v2/os/multi/manifests/${digest}`, {
      headers: { authorization: auth, accept: MEDIA_OCI_MANIFEST },
    });
    const size = (await manifest.arrayBuffer()).byteLength;
    manifests.push({ mediaType: MEDIA_OCI_MANIFEST, digest, size, platform: { os: 'linux', architecture } });
  }
  const index = await fetch(`${registry.url}/v2/os/multi/manifests/v1`, {
    method: 'PUT',
    headers: { authorization: auth, 'content-type': MEDIA_OCI_INDEX },
    body: JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_OCI_INDEX, manifests }),
  });
  expect(index.status, await index.text()).toBe(201);
});

afterAll(async () => {
  await http?.stop();
  await https?.stop();
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

const target = () => join(dir, `target-${counter++}.img`);
const done = (sha: string) => `done: sha384:${sha}`;

function installConfig(url: string): string {
  return `image:
  url: ${url}
  sha384: ignored
storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: 32M }
        - { id: root, type: root, size: 96M }
  filesystems:
    - deviceId: esp
      mountPoint: { path: /boot/efi, options: umask=0077 }
    - deviceId: root
      mountPoint: /
`;
}

async function config(url: string): Promise<string> {
  const path = join(dir, `config-${counter++}.yaml`);
  await writeFile(path, installConfig(url));
  return path;
}

describe('HTTP(S) options', () => {
  it('stream-disk sends --header on every request', async () => {
    const before = http.requests.length;
    const file = target();
    const run = await tridentAsync([
      'stream-disk',
      http.url,
      '--header',
      'X-Trace: sd-1',
      '--target-image',
      file,
      '-q',
    ]).done;
    expect(run.code, run.stderr).toBe(0);
    const sent = http.requests.slice(before);
    expect(sent.length).toBeGreaterThan(2);
    expect(sent.map((r) => r.headers['x-trace'])).toEqual(sent.map(() => 'sd-1'));
    expect((await sgdiskClean(file)).ok).toBe(true);
  });

  it('stream-disk over HTTPS trusts --ca-file, and only with it', async () => {
    const without = await tridentAsync(['stream-disk', https.url, '--target-image', target(), '-q']).done;
    expect(without.code).not.toBe(0);
    expect(without.stderr).toMatch(/certificate|self[- ]signed/iu);
    const withCa = await tridentAsync([
      'stream-disk',
      https.url,
      '--ca-file',
      tls.cert,
      '--target-image',
      target(),
      '-q',
    ]).done;
    expect(withCa.code, withCa.stderr).toBe(0);
    expect(withCa.stdout).toContain(done(amd64.sha));
  });

  it('install honours --header and --ca-file for the configured image', async () => {
    const before = https.requests.length;
    const run = await tridentAsync([
      'install',
      await config(https.url),
      '--disk',
      `os=image:${target()}:256M`,
      '--ca-file',
      tls.cert,
      '--header',
      'X-Trace: install-1',
      '-q',
    ]).done;
    expect(run.code, run.stderr).toBe(0);
    const sent = https.requests.slice(before);
    expect(sent.length).toBeGreaterThan(2);
    expect(sent.every((r) => r.headers['x-trace'] === 'install-1')).toBe(true);
  });
});

describe('OCI options against an htpasswd registry with a two-platform index', () => {
  const index = () => `oci://${registry.host}/os/multi:v1`;
  const password = { TRIDENT_REGISTRY_PASSWORD: PASSWORD };

  it('needs the credentials: without them the registry refuses, with them it serves', () => {
    const anonymous = trident(['stream-disk', index(), '--target-image', target(), '--allow-arch-mismatch']);
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toMatch(/401|unauthori[sz]ed|credentials/iu);
    const wrong = trident(
      ['stream-disk', index(), '--username', USER, '--target-image', target(), '--allow-arch-mismatch'],
      { env: { TRIDENT_REGISTRY_PASSWORD: 'wrong' } },
    );
    expect(wrong.code).not.toBe(0);
  });

  it('stream-disk --platform linux/arm64 writes the arm64 COSI, the one cosi validate checks', () => {
    const validate = trident(['cosi', 'hash', index(), '--platform', 'linux/arm64', '--username', USER], {
      env: password,
    });
    expect(validate.stdout.trim()).toBe(arm64.sha);
    const file = target();
    const run = trident(
      [
        'stream-disk',
        index(),
        '--platform',
        'linux/arm64',
        '--username',
        USER,
        '--target-image',
        file,
        '--allow-arch-mismatch',
        '-q',
      ],
      { env: password },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(done(arm64.sha));
    // And the host's platform without the flag.
    const host = trident(['stream-disk', index(), '--username', USER, '--target-image', target(), '-q'], {
      env: password,
    });
    expect(host.code, host.stderr).toBe(0);
    expect(host.stdout).toContain(done(process.arch === 'arm64' ? arm64.sha : amd64.sha));
  });

  it('install takes --password-stdin and --platform for the configured image', async () => {
    const run = trident(
      [
        'install',
        await config(index()),
        '--disk',
        `os=image:${target()}:256M`,
        '--platform',
        'linux/arm64',
        '--allow-arch-mismatch',
        '--username',
        USER,
        '--password-stdin',
        '-q',
      ],
      { input: `${PASSWORD}\n` },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(done(arm64.sha));
  });

  it('--plain-http reaches the registry client: a host not named loopback is tried over HTTPS without it', () => {
    // 0.0.0.0 reaches the local registry but is not one of the names that default to plain HTTP.
    const reference = `oci://0.0.0.0:${registry.host.split(':')[1]}/os/multi:amd64`;
    const https = trident(['stream-disk', reference, '--username', USER, '--target-image', target(), '-q'], {
      env: password,
    });
    expect(https.code).not.toBe(0);
    const plain = trident(
      ['stream-disk', reference, '--plain-http', '--username', USER, '--target-image', target(), '-q'],
      { env: password },
    );
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toContain(done(amd64.sha));
  });
});

describe('invalid source options are refused, not dropped', () => {
  for (const [flags, code, pattern] of [
    [['--platform', 'linux'], 2, /--platform/u],
    [['--header', 'no-colon'], 2, /--header/u],
    [['--ca-file', '/nonexistent/ca.pem'], 3, /--ca-file/u],
    [['--username', 'someone'], 2, /password/u],
  ] as const) {
    it(`stream-disk and install refuse ${flags.join(' ')}`, async () => {
      const sd = trident(['stream-disk', amd64.path, '--target-image', target(), ...flags]);
      expect(sd.code, sd.stderr).toBe(code);
      expect(sd.stderr).toMatch(pattern);
      const inst = trident([
        'install',
        await config(`file://${amd64.path}`),
        '--disk',
        `os=image:${target()}:256M`,
        ...flags,
      ]);
      expect(inst.code, inst.stderr).toBe(code);
    });
  }
});
