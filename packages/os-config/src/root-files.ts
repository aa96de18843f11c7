/**
 * Files inside the new root, resolved the way the chroot will see them. The new root's symlinks are
 * the new OS's (`/etc/resolv.conf -> /run/...`, `/etc/mtab -> ../proc/self/mounts`): followed from
 * the host they would point into the servicing OS, so every path is resolved component by
 * component against the root, and `..` never climbs above it.
 */
import { randomBytes } from 'node:crypto';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { OsConfigError } from './errors.ts';

const MAX_LINKS = 40;

/**
 * The host path of `path` (absolute, as seen inside `root`) after following the root's symlinks
 * inside the root. Components that do not exist yet are kept as given.
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  if (!path.startsWith('/'))
    throw new OsConfigError(
      'OS_CONFIG_PATH_OUTSIDE_ROOT',
      `'${path}' is not an absolute path in the new root`,
    );
  const pending = path.split('/').filter((c) => c !== '' && c !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const name = pending.shift() as string;
    if (name === '..') {
      done.pop();
      continue;
    }
    if (name === '.') continue;
    const host = join(root, ...done, name);
    let target: string | undefined;
    try {
      if ((await lstat(host)).isSymbolicLink()) target = await readlink(host);
    } catch {
      target = undefined;
    }
    if (target === undefined) {
      done.push(name);
      continue;
    }
    if (++links > MAX_LINKS)
      throw new OsConfigError(
        'OS_CONFIG_PATH_OUTSIDE_ROOT',
        `too many symbolic links resolving '${path}' in ${root}`,
      );
    if (target.startsWith('/')) done.length = 0;
    pending.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
  }
  return join(root, ...done);
}

export async function readFileInRoot(root: string, path: string): Promise<string | undefined> {
  try {
    return await readFile(await resolveInRoot(root, path), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export async function existsInRoot(root: string, path: string): Promise<boolean> {
  try {
    await lstat(await resolveInRoot(root, path));
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes a file in the new root with exactly `mode`, creating parent directories (0755). Written to
 * a temporary name beside it and renamed, so a crash never leaves half a `/etc/shadow`. With
 * `keepExisting`, an existing file keeps its mode and owner (`/etc/shadow` is root:shadow 0640 on
 * Debian; a plain rewrite would make it root:root).
 */
export async function writeFileInRoot(
  root: string,
  path: string,
  content: string | Uint8Array,
  mode: number,
  options: { keepExisting?: boolean } = {},
): Promise<string> {
  const host = await resolveInRoot(root, path);
  await mkdir(dirname(host), { recursive: true, mode: 0o755 });
  const existing = options.keepExisting === true ? await stat(host).catch(() => undefined) : undefined;
  const finalMode = existing === undefined ? mode : existing.mode & 0o7777;
  const temp = `${host}.trident-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(temp, content, { mode: finalMode, flag: 'wx' });
    // The process umask applies to the mode at creation; set it exactly.
    await chmod(temp, finalMode);
    if (existing !== undefined) await chown(temp, existing.uid, existing.gid);
    await rename(temp, host);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return host;
}

export async function removeFileInRoot(root: string, path: string): Promise<boolean> {
  const host = await resolveInRoot(root, path);
  try {
    await rm(host);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
