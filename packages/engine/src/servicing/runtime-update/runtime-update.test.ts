/**
 * Runtime updates through the datastore on a real directory tree: real squashfs/ext4 extension
 * images served by nginx, a real datastore file, systemd's own unit file enabled with
 * `systemctl --root`, health checks run as scripts. The tree is not a running OS, so the live
 * steps (systemd-sysext refresh, netplan apply) are the VM test's (tests/vm/src/sysext-runtime).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatastore, rollbackChain } from '@trident/datastore';
import { parseHostConfig, plainDocument } from '@trident/host-config';
import { type NginxServer, startNginx } from '@trident/test-support/nginx';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runtimeUpdate } from './runtime-update.ts';

const STORAGE = `
image:
  url: file:///srv/images/os.cosi
  sha384: ignored
storage:
  disks:
  - id: os
    device: /dev/vda
    partitionTableType: gpt
    partitions:
    - { id: esp, type: esp, size: 100M }
    - { id: rootfs, type: root, size: 2G }
  filesystems:
  - deviceId: esp
    mountPoint: { path: /boot/efi, options: umask=0077 }
  - deviceId: rootfs
    mountPoint: /
`;
/** A Host Configuration as the datastore records it: the YAML as plain data. */
const parse = (text: string) => plainDocument(parseHostConfig(text).source?.value) as Record<string, unknown>;
const SYSEXT_UNIT = '/lib/systemd/system/systemd-sysext.service';

let work: string;
let nginx: NginxServer;
let root: string;
let datastorePath: string;
const sha: Record<string, string> = {};

async function build(name: string, files: Record<string, string>, kind: 'squashfs' | 'ext4' = 'squashfs') {
  const tree = join(work, `tree-${name}`);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(tree, path, '..'), { recursive: true });
    await writeFile(join(tree, path), content);
  }
  const out = join(nginx.root, `${name}.raw`);
  if (kind === 'squashfs') execFileSync('mksquashfs', [tree, out, '-quiet', '-noappend', '-all-root']);
  else execFileSync('mkfs.ext4', ['-q', '-F', '-d', tree, out, '4M']);
  sha[name] = createHash('sha384')
    .update(await readFile(out))
    .digest('hex');
}

function sysexts(...names: string[]): string {
  return names.length === 0
    ? ''
    : `  sysexts:\n${names.map((n) => `  - url: ${nginx.url}/${n}.raw\n    sha384: ${sha[n]}\n`).join('')}`;
}

function config(os: string, extra = ''): string {
  return `${STORAGE}os:\n  hostname: rt-host\n${os}${extra}`;
}

const NETPLAN =
  '  netplan:\n    version: 2\n    ethernets:\n      uplink:\n        match: { name: "en*" }\n        dhcp4: true\n';

function status() {
  const store = openDatastore(datastorePath, { readOnly: true });
  try {
    return { current: store.current(), history: store.history() };
  } finally {
    store.close();
  }
}

const update = (text: string, allowed?: { stage: boolean; finalize: boolean }) =>
  runtimeUpdate({
    datastorePath,
    hostConfiguration: { text, path: 'hc.yaml' },
    root,
    ...(allowed ? { allowedOperations: allowed } : {}),
  });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'trident-runtime-update-'));
  nginx = await startNginx();
  await build('hello', {
    'usr/lib/extension-release.d/extension-release.hello': 'ID=_any\nSYSEXT_ID=hello\n',
    'usr/bin/hello': 'hello\n',
  });
  await build(
    'tools',
    {
      'usr/lib/extension-release.d/extension-release.tools': 'ID=_any\nSYSEXT_ID=tools\n',
      'usr/bin/tool': 'x\n',
    },
    'ext4',
  );
}, 60_000);

afterAll(async () => {
  await nginx?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

beforeEach(async () => {
  // A provisioned host: the real unit file systemctl enables, a datastore after install + commit.
  root = await mkdtemp(join(work, 'root-'));
  await mkdir(join(root, 'lib/systemd/system'), { recursive: true });
  await copyFile(SYSEXT_UNIT, join(root, SYSEXT_UNIT));
  datastorePath = join(root, 'var/lib/trident/datastore.sqlite');
  const store = openDatastore(datastorePath, { create: true });
  store.apply({ type: 'clean-install-started' });
  store.apply({ type: 'clean-install-staged', spec: parse(config('')), installIndex: 0 });
  store.apply({ type: 'clean-install-finalized' });
  store.apply({ type: 'committed' });
  store.close();
});

describe('runtime update', () => {
  it('adds a sysext and netplan: placed, merge unit enabled, paths recorded, provisioned', async () => {
    const outcome = await update(config(sysexts('hello') + NETPLAN));
    expect(outcome).toMatchObject({
      result: 'updated',
      placed: ['/var/lib/extensions/hello.raw'],
      removed: [],
      actions: ['wrote /etc/netplan/99-trident.yaml', 'systemctl enable systemd-sysext.service'],
    });
    expect(await readFile(join(root, 'var/lib/extensions/hello.raw'))).toEqual(
      await readFile(join(nginx.root, 'hello.raw')),
    );
    expect(
      (
        await lstat(join(root, 'etc/systemd/system/sysinit.target.wants/systemd-sysext.service'))
      ).isSymbolicLink(),
    ).toBe(true);
    expect(await readFile(join(root, 'etc/netplan/99-trident.yaml'), 'utf8')).toContain('dhcp4: true');
    expect(await readdir(join(root, 'var/lib/extensions'))).toEqual(['hello.raw']); // staging cleaned
    const { current, history } = status();
    expect(current.servicingState).toBe('provisioned');
    expect(current.spec?.['os']).toMatchObject({
      sysexts: [{ url: `${nginx.url}/hello.raw`, sha384: sha.hello, path: '/var/lib/extensions/hello.raw' }],
    });
    expect(current.specOld).toBeUndefined();
    expect(current.lastError).toBeUndefined();
    expect(
      rollbackChain(history.flatMap((r) => ('status' in r ? [r.status] : []))).map((i) => i.kind),
    ).toEqual(['runtime']);
    // Running the same configuration again changes nothing (the recorded paths do not count).
    expect(await update(config(sysexts('hello') + NETPLAN))).toMatchObject({
      result: 'nothing-to-do',
      reason: expect.stringMatching(/^no runtime change/u),
    });
  });

  it('stage only, then finalize only: the running images stay until finalize swaps them', async () => {
    await update(config(sysexts('hello')));
    const v2 = config(sysexts('tools'));
    expect(await update(v2, { stage: true, finalize: false })).toEqual({
      result: 'staged',
      images: ['sysext tools → /var/lib/extensions/tools.raw'],
    });
    expect(status().current.servicingState).toBe('runtime-update-staged');
    expect(await readdir(join(root, 'var/lib/extensions/.staging'))).toEqual([`${sha.tools}.raw`]);
    expect(await readdir(join(root, 'var/lib/extensions'))).toContain('hello.raw');
    const outcome = await update(v2, { stage: false, finalize: true });
    expect(outcome).toMatchObject({
      result: 'updated',
      placed: ['/var/lib/extensions/tools.raw'],
      removed: ['/var/lib/extensions/hello.raw'],
    });
    expect((await readdir(join(root, 'var/lib/extensions'))).sort()).toEqual(['tools.raw']);
    expect(status().current).toMatchObject({ servicingState: 'provisioned' });
  });

  it('failed health checks re-apply the previous configuration and record the error', async () => {
    await update(config(sysexts('hello')));
    const failing = config(
      sysexts('tools'),
      'health:\n  checks:\n  - name: never-fine\n    runOn: [runtime-update]\n    content: echo not fine >&2; exit 3\n',
    );
    const outcome = await update(failing);
    expect(outcome.result).toBe('rolled-back');
    if (outcome.result !== 'rolled-back') return;
    expect(outcome.error.tridentError).toMatchObject({
      kind: 'HEALTH_CHECKS_ERROR',
      subkind: 'health-checks-failed',
    });
    expect((await readdir(join(root, 'var/lib/extensions'))).sort()).toEqual(['hello.raw']);
    const { current } = status();
    expect(current.servicingState).toBe('provisioned');
    expect(current.spec?.['os']).toMatchObject({
      sysexts: [{ sha384: sha.hello, path: '/var/lib/extensions/hello.raw' }],
    });
    expect(current.spec?.['health']).toBeUndefined();
    expect(current.lastError).toMatchObject({ error: 'health-checks-failed' });
  });

  it('refuses what a runtime update does not apply, and a host without a datastore', async () => {
    await expect(update(config(sysexts('hello')).replace('rt-host', 'other-host'))).rejects.toMatchObject({
      code: 'ENGINE_RUNTIME_UPDATE_NEEDS_AB_UPDATE',
      message: expect.stringContaining('needs an A/B update (os.hostname changed)'),
    });
    expect(status().current.lastError).toMatchObject({ error: 'invalid-host-configuration-dynamic' });
    expect(
      await update(config('', 'trident:\n  datastorePath: /var/lib/trident/datastore.sqlite\n')),
    ).toMatchObject({
      result: 'nothing-to-do',
      reason: expect.stringMatching(/^no runtime change/u),
    });
    await expect(
      runtimeUpdate({
        datastorePath: join(root, 'nothing.sqlite'),
        hostConfiguration: { text: config('') },
        root,
      }),
    ).rejects.toMatchObject({
      code: 'ENGINE_HOST_NOT_PROVISIONED',
      tridentError: { subkind: 'host-not-provisioned' },
    });
  });
});
