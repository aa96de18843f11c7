import { lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveInRoot, writeFileInRoot } from './root-files.ts';

describe('files in the new root', () => {
  let dir: string;
  let root: string;
  let outside: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-config-root-files-'));
    root = join(dir, 'root');
    outside = join(dir, 'outside');
    await mkdir(join(root, 'etc'), { recursive: true });
    await mkdir(join(root, 'run/systemd'), { recursive: true });
    await mkdir(outside);
    // As in a real root: absolute links that mean the new root's paths, not the host's.
    await symlink('/run/systemd/resolve.conf', join(root, 'etc/resolv.conf'));
    await symlink(outside, join(root, 'etc/escape'));
    await symlink('../../../../..', join(root, 'etc/up'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('follows absolute symlinks inside the root, never to the host', async () => {
    expect(await resolveInRoot(root, '/etc/resolv.conf')).toBe(join(root, 'run/systemd/resolve.conf'));
    // A link to a host directory is taken as that path inside the root.
    expect(await resolveInRoot(root, '/etc/escape/x')).toBe(join(root, outside, 'x'));
    expect(await resolveInRoot(root, '/etc/up/etc/hostname')).toBe(join(root, 'etc/hostname'));
    expect(await resolveInRoot(root, '/../../etc/hostname')).toBe(join(root, 'etc/hostname'));
  });

  it('writes through a link into the root, leaving the host untouched', async () => {
    await writeFileInRoot(root, '/etc/resolv.conf', 'nameserver 192.0.2.53\n', 0o644);
    expect(await readFile(join(root, 'run/systemd/resolve.conf'), 'utf8')).toBe('nameserver 192.0.2.53\n');
    expect((await lstat(join(root, 'etc/resolv.conf'))).isSymbolicLink()).toBe(true);
    await writeFileInRoot(root, '/etc/escape/planted', 'x', 0o644);
    await expect(stat(join(outside, 'planted'))).rejects.toThrow(/ENOENT/u);
  });

  it('sets the exact mode whatever the umask, and keeps an existing file mode on request', async () => {
    await writeFileInRoot(root, '/etc/deep/new/secret', 's', 0o600);
    expect((await stat(join(root, 'etc/deep/new/secret'))).mode & 0o7777).toBe(0o600);
    await writeFile(join(root, 'etc/shadowish'), 'a', { mode: 0o640 });
    await writeFileInRoot(root, '/etc/shadowish', 'b', 0o600, { keepExisting: true });
    expect((await stat(join(root, 'etc/shadowish'))).mode & 0o7777).toBe(0o640);
    expect(await readFile(join(root, 'etc/shadowish'), 'utf8')).toBe('b');
  });

  it('refuses a relative path', async () => {
    await expect(resolveInRoot(root, 'etc/hostname')).rejects.toMatchObject({
      code: 'OS_CONFIG_PATH_OUTSIDE_ROOT',
    });
  });
});
