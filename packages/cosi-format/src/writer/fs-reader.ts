import { posix } from 'node:path';
import { runBuildTool } from './build-tool.ts';
import type { FsType } from './probe-fs.ts';

/**
 * Reads files inside a filesystem that lives at an offset of an image file, without mounting it
 * (no root): e2fsprogs `debugfs` for ext2/3/4 (`image?offset=N` is e2fsprogs' unix_io option
 * syntax), mtools for vfat (`image@@N`). Other filesystems cannot be read; callers then need the
 * matching build options (osRelease, osArch, bootloader, ...).
 */
export interface FsReader {
  readonly fsType: FsType;
  /** File contents, or undefined when the path does not exist. Symlinks are followed. */
  readFile(path: string): Promise<Buffer | undefined>;
  /** Names in a directory (no `.`/`..`), or undefined when it does not exist. */
  listDir(path: string): Promise<string[] | undefined>;
  /** Copies a file out to `destination`; false when it does not exist. */
  dumpFile(path: string, destination: string): Promise<boolean>;
}

const NOT_FOUND = /File not found by ext2_lookup|not found/u;
const MAX_LINKS = 8;

function createExtReader(image: string, offset: number, fsType: FsType): FsReader {
  const device = offset === 0 ? image : `${image}?offset=${offset}`;
  const debugfs = async (request: string) => runBuildTool('debugfs', ['-R', request, device]);
  // debugfs `cat`/`dump` resolve the final component without following symlinks, so we do it.
  async function resolve(path: string, depth = 0): Promise<string | undefined> {
    const { stdout, stderr } = await debugfs(`stat "${path}"`);
    if (NOT_FOUND.test(stderr)) return undefined;
    const text = stdout.toString('utf8');
    if (!/Type: symlink/u.test(text)) return path;
    if (depth >= MAX_LINKS) return undefined;
    let target = /Fast link dest: "(.*)"/u.exec(text)?.[1];
    if (target === undefined) target = (await debugfs(`cat "${path}"`)).stdout.toString('utf8');
    return resolve(posix.resolve(posix.dirname(path), target), depth + 1);
  }
  return {
    fsType,
    async readFile(path) {
      const real = await resolve(path);
      if (real === undefined) return undefined;
      const { stdout, stderr } = await debugfs(`cat "${real}"`);
      return NOT_FOUND.test(stderr) ? undefined : stdout;
    },
    async listDir(path) {
      const real = await resolve(path);
      if (real === undefined) return undefined;
      const { stdout, stderr } = await debugfs(`ls -p "${real}"`);
      if (NOT_FOUND.test(stderr)) return undefined;
      // `ls -p` lines: /inode/mode/uid/gid/name/size/
      const names: string[] = [];
      for (const line of stdout.toString('utf8').split('\n')) {
        const fields = line.split('/');
        const name = fields[5];
        if (fields.length >= 7 && name !== undefined && name !== '.' && name !== '..' && name !== '')
          names.push(name);
      }
      return names;
    },
    async dumpFile(path, destination) {
      const real = await resolve(path);
      if (real === undefined) return false;
      const { stderr } = await debugfs(`dump "${real}" "${destination}"`);
      return !NOT_FOUND.test(stderr);
    },
  };
}

function createVfatReader(image: string, offset: number): FsReader {
  const drive = `${image}@@${offset}`;
  // Images carry no geometry matching a drive; MTOOLS_SKIP_CHECK stops mtools refusing them.
  const env = { MTOOLS_SKIP_CHECK: '1', MTOOLS_NO_VFAT: '0' };
  let listing: Promise<string[]> | undefined;
  // One recursive listing answers every lookup; FAT names compare case-insensitively.
  const all = () =>
    (listing ??= runBuildTool('mdir', ['-i', drive, '-/', '-b', '::/'], { env, okCodes: [0, 1] }).then(
      ({ stdout }) =>
        stdout
          .toString('utf8')
          .split('\n')
          .filter((line) => line.startsWith('::/'))
          .map((line) => line.slice(2)),
    ));
  const find = async (path: string): Promise<string | undefined> => {
    const wanted = posix.resolve('/', path).toLowerCase();
    return (await all()).find((entry) => entry.replace(/\/$/u, '').toLowerCase() === wanted);
  };
  return {
    fsType: 'vfat',
    async readFile(path) {
      const real = await find(path);
      if (real === undefined || real.endsWith('/')) return undefined;
      return (await runBuildTool('mtype', ['-i', drive, `::${real}`], { env })).stdout;
    },
    async listDir(path) {
      const real = await find(path);
      const dir = path === '/' || path === '' ? '/' : real;
      if (dir === undefined || !dir.endsWith('/')) return undefined;
      const lower = dir.toLowerCase();
      return (await all())
        .filter((entry) => entry.toLowerCase().startsWith(lower) && entry.length > dir.length)
        .map((entry) => entry.slice(dir.length).replace(/\/$/u, ''))
        .filter((name) => !name.includes('/'));
    },
    async dumpFile(path, destination) {
      const real = await find(path);
      if (real === undefined || real.endsWith('/')) return false;
      await runBuildTool('mcopy', ['-n', '-i', drive, `::${real}`, destination], { env });
      return true;
    },
  };
}

export function createFsReader(image: string, offset: number, fsType: FsType): FsReader | undefined {
  if (fsType === 'ext2' || fsType === 'ext3' || fsType === 'ext4')
    return createExtReader(image, offset, fsType);
  if (fsType === 'vfat') return createVfatReader(image, offset);
  return undefined;
}

/**
 * The OS tree of an image whose /usr is a filesystem of its own (a dm-verity /usr beside a
 * writable root): paths under /usr are read from `usr`, the rest from `root`. A merged-/usr root
 * keeps only symlinks into its empty /usr (`/etc/os-release`, `/bin`), which `root` cannot follow
 * across filesystems; callers look up the /usr path as well (os-release(5) does the same).
 */
export function withSeparateUsr(root: FsReader, usr: FsReader): FsReader {
  const route = (path: string): [FsReader, string] => {
    const absolute = posix.resolve('/', path);
    if (absolute === '/usr') return [usr, '/'];
    if (absolute.startsWith('/usr/')) return [usr, absolute.slice('/usr'.length)];
    return [root, absolute];
  };
  return {
    fsType: root.fsType,
    readFile: (path) => {
      const [reader, inner] = route(path);
      return reader.readFile(inner);
    },
    listDir: (path) => {
      const [reader, inner] = route(path);
      return reader.listDir(inner);
    },
    dumpFile: (path, destination) => {
      const [reader, inner] = route(path);
      return reader.dumpFile(inner, destination);
    },
  };
}
