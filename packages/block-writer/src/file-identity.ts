import { readdir, readFile, stat } from 'node:fs/promises';
import { isExecError, runTool } from '@trident/exec';

/**
 * Which file a path or descriptor is: device and inode. Paths lie (symlinks, hard links, bind
 * mounts, a file renamed or deleted since a loop device was attached to it); the inode does not.
 */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
}

export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** Identity of what `path` names (symlinks followed), or undefined when it cannot be examined. */
export async function identityOf(path: string): Promise<FileIdentity | undefined> {
  try {
    const info = await stat(path, { bigint: true });
    return { dev: info.dev, ino: info.ino };
  } catch {
    return undefined;
  }
}

export interface LoopBacking {
  /** Kernel name, e.g. `loop3`. */
  name: string;
  /** Backing file path as the kernel reports it (may end in ` (deleted)`). */
  backingFile: string;
  /** Device and inode of the backing file, from LOOP_GET_STATUS64 (via losetup). */
  identity: FileIdentity | undefined;
}

/** A tool's output, or undefined when it is missing or fails (callers then fall back to sysfs). */
async function run(command: string, args: readonly string[]): Promise<string | undefined> {
  try {
    return (await runTool(command, args)).stdout;
  } catch (error) {
    if (isExecError(error)) return undefined;
    throw error;
  }
}

/** `254:0` (or with padding) → dev_t as Linux encodes it (glibc makedev). */
function parseMajMin(text: string): bigint | undefined {
  const match = /^\s*(\d+):(\d+)\s*$/u.exec(text);
  if (match === null) return undefined;
  const major = BigInt(match[1]!);
  const minor = BigInt(match[2]!);
  return ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);
}

/**
 * Every attached loop device with its backing file. The inode and device come from losetup (the
 * kernel's LOOP_GET_STATUS64), which stays right when the file was renamed, deleted or reached
 * through another link; sysfs `loop/backing_file` is the fallback when losetup is unavailable.
 */
export async function listLoopBackings(): Promise<LoopBacking[]> {
  const found = new Map<string, LoopBacking>();
  const json = await run('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE,BACK-INO,BACK-MAJ:MIN']);
  if (json !== undefined && json.trim() !== '') {
    try {
      const parsed = JSON.parse(json) as {
        loopdevices?: Array<Record<string, string | number | null>>;
      };
      for (const entry of parsed.loopdevices ?? []) {
        const name = String(entry['name'] ?? '').replace(/^\/dev\//u, '');
        const ino = entry['back-ino'];
        const dev = parseMajMin(String(entry['back-maj:min'] ?? ''));
        if (name === '') continue;
        found.set(name, {
          name,
          backingFile: String(entry['back-file'] ?? ''),
          identity:
            dev !== undefined && ino !== null && ino !== undefined && String(ino) !== ''
              ? { dev, ino: BigInt(ino) }
              : undefined,
        });
      }
    } catch {
      // fall back to sysfs below
    }
  }
  let names: string[] = [];
  try {
    names = (await readdir('/sys/block')).filter((name) => name.startsWith('loop'));
  } catch {
    names = [];
  }
  for (const name of names) {
    if (found.has(name)) continue;
    try {
      const backingFile = (await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8')).trim();
      found.set(name, { name, backingFile, identity: undefined });
    } catch {
      // not attached
    }
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}

/**
 * Loop devices whose backing file is `identity`. Matched by inode when the kernel told us, and also
 * by the reported path when it still names the same file: either match counts (refusing too much is
 * safe, missing one is not).
 */
export async function loopDevicesBackedBy(identity: FileIdentity): Promise<string[]> {
  const names: string[] = [];
  for (const loop of await listLoopBackings()) {
    if (loop.identity !== undefined && sameFile(loop.identity, identity)) {
      names.push(loop.name);
      continue;
    }
    const path = loop.backingFile.replace(/ \(deleted\)$/u, '');
    const byPath = path === '' ? undefined : await identityOf(path);
    if (byPath !== undefined && sameFile(byPath, identity)) names.push(loop.name);
  }
  return names;
}

/** The backing file identity of one loop device (by kernel name), when it has one. */
export async function loopBackingIdentity(name: string): Promise<FileIdentity[]> {
  const identities: FileIdentity[] = [];
  for (const loop of await listLoopBackings()) {
    if (loop.name !== name) continue;
    if (loop.identity !== undefined) identities.push(loop.identity);
    const path = loop.backingFile.replace(/ \(deleted\)$/u, '');
    const byPath = path === '' ? undefined : await identityOf(path);
    if (byPath !== undefined) identities.push(byPath);
  }
  return identities;
}
