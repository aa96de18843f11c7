/**
 * Extension images end to end on real images: squashfs built by mksquashfs and ext4 by mkfs.ext4
 * in temp directories, served by a real nginx, staged into a temp root, inspected with unsquashfs
 * and debugfs, placed, replaced and put back as an auto-rollback does.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NginxServer, startNginx } from '@trident/test-support/nginx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanExtensionStaging,
  type ExtensionLists,
  imageFormat,
  parseOsRelease,
  placeExtensions,
  readExtensionRelease,
  stageExtensions,
  withExtensionPaths,
} from '../index.ts';

let work: string;
let nginx: NginxServer;
const sha: Record<string, string> = {};

/** Builds `<name>.raw` in nginx's root from a tree of files; returns its SHA-384. */
async function build(
  name: string,
  kind: 'squashfs' | 'ext4',
  files: Record<string, string>,
): Promise<string> {
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
  return sha[name]!;
}

const url = (name: string) => `${nginx.url}/${name}.raw`;
const downloads = async () => (await nginx.accessLog()).split('\n').filter((l) => l.startsWith('GET')).length;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'trident-extensions-'));
  nginx = await startNginx();
  await build('hello', 'squashfs', {
    'usr/lib/extension-release.d/extension-release.hello': 'ID=_any\nSYSEXT_ID="hello"\n',
    'usr/bin/hello': '#!/bin/sh\necho hello\n',
  });
  await build('tools', 'ext4', {
    'usr/lib/extension-release.d/extension-release.tools': 'ID=_any\nSYSEXT_ID=tools\n',
    'usr/bin/tool': 'tool\n',
  });
  await build('motd', 'squashfs', {
    'etc/extension-release.d/extension-release.motd': "ID=_any\nCONFEXT_ID='motd'\n",
    'etc/motd.d/ext': 'from a confext\n',
  });
  await build('two-releases', 'squashfs', {
    'usr/lib/extension-release.d/extension-release.a': 'SYSEXT_ID=a\n',
    'usr/lib/extension-release.d/extension-release.b': 'SYSEXT_ID=b\n',
  });
  await build('no-id', 'squashfs', { 'usr/lib/extension-release.d/extension-release.no-id': 'ID=_any\n' });
}, 60_000);

afterAll(async () => {
  await nginx?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function newRoot(): Promise<string> {
  return mkdtemp(join(work, 'root-'));
}

describe('inspection without mounting', () => {
  it('reads the release file of squashfs (unsquashfs) and ext4 (debugfs) images', async () => {
    const hello = join(nginx.root, 'hello.raw');
    const tools = join(nginx.root, 'tools.raw');
    expect(await imageFormat(hello)).toBe('squashfs');
    expect(await imageFormat(tools)).toBe('ext4');
    expect(await readExtensionRelease(hello, 'sysext', 'hello')).toEqual({
      id: 'hello',
      name: 'hello',
      fields: { ID: '_any', SYSEXT_ID: 'hello' },
    });
    expect((await readExtensionRelease(tools, 'sysext', 'tools')).name).toBe('tools');
    expect((await readExtensionRelease(join(nginx.root, 'motd.raw'), 'confext', 'motd')).id).toBe('motd');
  });

  it('refuses images without exactly one release file with its ID, naming the image', async () => {
    await expect(
      readExtensionRelease(join(nginx.root, 'two-releases.raw'), 'sysext', 'u'),
    ).rejects.toMatchObject({
      code: 'OS_CONFIG_EXTENSION_RELEASE',
      message: expect.stringMatching(/found 2 \(extension-release\.a, extension-release\.b\)/u),
    });
    await expect(readExtensionRelease(join(nginx.root, 'no-id.raw'), 'sysext', 'u')).rejects.toMatchObject({
      code: 'OS_CONFIG_EXTENSION_RELEASE',
      message: expect.stringContaining('has no SYSEXT_ID='),
    });
    // A sysext is no confext: its release file sits under /usr, not /etc.
    await expect(readExtensionRelease(join(nginx.root, 'hello.raw'), 'confext', 'u')).rejects.toMatchObject({
      code: 'OS_CONFIG_EXTENSION_RELEASE',
      message: expect.stringContaining('found 0'),
    });
  });

  // systemd-dissect attaches a loop device and mounts the partition: root only.
  it.skipIf(process.getuid?.() !== 0)(
    'reads a GPT disk image (a /usr partition) through systemd-dissect',
    async () => {
      const usr = join(work, 'usr.sqfs');
      await mkdir(join(work, 'gpt-tree/lib/extension-release.d'), { recursive: true });
      await writeFile(
        join(work, 'gpt-tree/lib/extension-release.d/extension-release.ddi'),
        'ID=_any\nSYSEXT_ID=ddi\n',
      );
      execFileSync('mksquashfs', [join(work, 'gpt-tree'), usr, '-quiet', '-noappend', '-all-root']);
      const disk = join(work, 'ddi.raw');
      execFileSync('truncate', ['-s', '4M', disk]);
      execFileSync('sfdisk', ['-q', disk], {
        input: 'label: gpt\nstart=2048, size=4096, type=8484680C-9521-48C6-9C11-B0720656F69E\n',
      });
      execFileSync('dd', [`if=${usr}`, `of=${disk}`, 'bs=512', 'seek=2048', 'conv=notrunc', 'status=none']);
      expect(await imageFormat(disk)).toBe('other');
      expect((await readExtensionRelease(disk, 'sysext', 'ddi')).id).toBe('ddi');
    },
  );

  it.skipIf(process.getuid?.() !== 0)(
    'falls back to systemd-dissect where unsquashfs is missing',
    async () => {
      const bin = join(work, 'bin-dissect-only');
      await mkdir(bin, { recursive: true });
      await symlink('/usr/bin/systemd-dissect', join(bin, 'systemd-dissect'));
      const path = process.env['PATH'];
      process.env['PATH'] = bin;
      try {
        expect((await readExtensionRelease(join(nginx.root, 'hello.raw'), 'sysext', 'hello')).id).toBe(
          'hello',
        );
      } finally {
        process.env['PATH'] = path;
      }
    },
  );

  it('parses os-release quoting', () => {
    expect(parseOsRelease('# c\nA="x \\"y\\""\nB=\'z\'\nC=plain\nbroken\n')).toEqual({
      A: 'x "y"',
      B: 'z',
      C: 'plain',
    });
  });
});

describe('stage and place', () => {
  it('downloads, verifies, names and places images; the staging directory goes away', async () => {
    const root = await newRoot();
    const config: ExtensionLists = {
      sysexts: [
        { url: url('hello'), sha384: sha.hello! },
        { url: url('tools'), sha384: sha.tools!, path: '/etc/extensions/tools.raw' },
      ],
      confexts: [{ url: url('motd'), sha384: sha.motd!.toUpperCase() }],
    };
    const staged = await stageExtensions(root, config);
    expect(staged.map((s) => [s.kind, s.id, s.path, s.from])).toEqual([
      ['sysext', 'hello', '/var/lib/extensions/hello.raw', `/var/lib/extensions/.staging/${sha.hello}.raw`],
      ['sysext', 'tools', '/etc/extensions/tools.raw', `/var/lib/extensions/.staging/${sha.tools}.raw`],
      ['confext', 'motd', '/var/lib/confexts/motd.raw', `/var/lib/extensions/.staging/${sha.motd}.raw`],
    ]);
    const placement = await placeExtensions(root, staged, undefined);
    expect(placement).toEqual({
      placed: ['/var/lib/extensions/hello.raw', '/etc/extensions/tools.raw', '/var/lib/confexts/motd.raw'],
      removed: [],
      changed: ['sysext', 'confext'],
    });
    await cleanExtensionStaging(root);
    expect(await readdir(join(root, 'var/lib/extensions'))).toEqual(['hello.raw']);
    expect(await readFile(join(root, 'var/lib/extensions/hello.raw'))).toEqual(
      await readFile(join(nginx.root, 'hello.raw')),
    );
    // The recorded spec gets the final paths; what the user wrote stays.
    const spec = { os: { sysexts: config.sysexts, confexts: config.confexts, hostname: 'h' } };
    const recorded = withExtensionPaths(spec, staged);
    expect(recorded.os.confexts?.[0]).toEqual({
      url: url('motd'),
      sha384: sha.motd!.toUpperCase(),
      path: '/var/lib/confexts/motd.raw',
    });
    expect(recorded.os.hostname).toBe('h');
    expect(spec.os.sysexts?.[0]).not.toHaveProperty('path');
  });

  it('refuses a wrong hash and leaves nothing behind', async () => {
    const root = await newRoot();
    await expect(
      stageExtensions(root, { sysexts: [{ url: url('hello'), sha384: sha.tools! }] }),
    ).rejects.toMatchObject({
      code: 'OS_CONFIG_EXTENSION_HASH_MISMATCH',
      subkind: 'populate-extension-images',
      message: expect.stringContaining(`hash to ${sha.hello}`),
    });
    expect(await readdir(join(root, 'var/lib/extensions/.staging'))).toEqual([]);
  });

  it('refuses a declared path that is not <NAME>.raw, and two images with one ID', async () => {
    const root = await newRoot();
    await expect(
      stageExtensions(root, {
        sysexts: [{ url: url('hello'), sha384: sha.hello!, path: '/etc/extensions/hi.raw' }],
      }),
    ).rejects.toMatchObject({
      code: 'OS_CONFIG_EXTENSION_PATH',
      message: expect.stringContaining("must end in 'hello.raw'"),
    });
    await build('hello-again', 'squashfs', {
      'usr/lib/extension-release.d/extension-release.hello2': 'SYSEXT_ID=hello\n',
    });
    await expect(
      stageExtensions(root, {
        sysexts: [
          { url: url('hello'), sha384: sha.hello! },
          { url: url('hello-again'), sha384: sha['hello-again']! },
        ],
      }),
    ).rejects.toMatchObject({
      code: 'OS_CONFIG_EXTENSION_DUPLICATE',
      message: expect.stringContaining('SYSEXT_ID=hello'),
    });
  });

  it('a runtime change parks the removed image, and putting the old set back downloads nothing', async () => {
    const root = await newRoot();
    const v1: ExtensionLists = { sysexts: [{ url: url('hello'), sha384: sha.hello! }] };
    const placedV1 = await stageExtensions(root, v1);
    await placeExtensions(root, placedV1, undefined);
    await cleanExtensionStaging(root);
    const recordedV1 = withExtensionPaths({ os: v1 }, placedV1).os;

    const v2: ExtensionLists = { sysexts: [{ url: url('tools'), sha384: sha.tools! }] };
    const stagedV2 = await stageExtensions(root, v2, { current: recordedV1 });
    const recordedV2 = withExtensionPaths({ os: v2 }, stagedV2).os;
    const before = await downloads();
    const toV2 = await placeExtensions(root, stagedV2, recordedV1);
    expect(toV2).toEqual({
      placed: ['/var/lib/extensions/tools.raw'],
      removed: ['/var/lib/extensions/hello.raw'],
      changed: ['sysext'],
    });
    expect((await readdir(join(root, 'var/lib/extensions'))).sort()).toEqual(['.staging', 'tools.raw']);
    expect(await readdir(join(root, 'var/lib/extensions/.staging'))).toEqual([`${sha.hello}.raw`]);

    // Auto-rollback: the old configuration again, the new one current.
    const back = await stageExtensions(root, recordedV1, { current: recordedV2 });
    expect(back[0]!.from).toBe(`/var/lib/extensions/.staging/${sha.hello}.raw`);
    const toV1 = await placeExtensions(root, back, recordedV2);
    expect(toV1.removed).toEqual(['/var/lib/extensions/tools.raw']);
    expect(await downloads()).toBe(before);
    expect((await readdir(join(root, 'var/lib/extensions'))).sort()).toEqual(['.staging', 'hello.raw']);

    // Unchanged configuration: images stay where they are, nothing to refresh.
    const same = await stageExtensions(root, recordedV1, { current: recordedV1 });
    expect(same[0]!.from).toBe('/var/lib/extensions/hello.raw');
    expect(await placeExtensions(root, same, recordedV1)).toEqual({ placed: [], removed: [], changed: [] });
  });

  it('copies an image the running OS has (A/B update) instead of downloading it', async () => {
    const running = await newRoot();
    const v1: ExtensionLists = { sysexts: [{ url: url('hello'), sha384: sha.hello! }] };
    await placeExtensions(running, await stageExtensions(running, v1), undefined);
    const target = await newRoot();
    const before = await downloads();
    const staged = await stageExtensions(target, v1, {
      reuseFrom: {
        root: running,
        lists: { sysexts: [{ ...v1.sysexts![0]!, path: '/var/lib/extensions/hello.raw' }] },
      },
    });
    expect(await downloads()).toBe(before);
    await placeExtensions(target, staged, undefined);
    expect((await stat(join(target, 'var/lib/extensions/hello.raw'))).size).toBe(
      (await stat(join(nginx.root, 'hello.raw'))).size,
    );
  });
});
