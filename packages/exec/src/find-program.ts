import { access, constants, lstat } from 'node:fs/promises';
import { join } from 'node:path';

const SEARCH_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * Where `name` lives on the host (`root` undefined: the process's PATH) or inside a root directory
 * (the standard system directories under it), or undefined. Used to pick between tools (dracut or
 * mkinitramfs, grub-mkconfig or grub2-mkconfig) and to fail early with a clear message.
 */
export async function findProgram(name: string, root?: string): Promise<string | undefined> {
  if (name.includes('/'))
    return (root === undefined ? await executable(name) : await present(join(root, name))) ? name : undefined;
  const dirs = root === undefined ? (process.env['PATH'] ?? SEARCH_PATH.join(':')).split(':') : SEARCH_PATH;
  for (const dir of dirs) {
    if (dir === '') continue;
    const inRoot = join(dir, name);
    if (root === undefined ? await executable(inRoot) : await present(join(root, inRoot))) return inRoot;
  }
  return undefined;
}

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Inside another root, symlinks may be absolute (`/etc/alternatives/…`) and would resolve against
 * the host: an entry that exists (file or link) is taken as the program.
 */
async function present(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
