/**
 * Reads an extension image's `extension-release.<NAME>` without mounting it where the format
 * allows (upstream mounts every image with `mount -t ddi`, which needs loop devices, a new enough
 * util-linux and the filesystem's kernel module): squashfs through `unsquashfs -l`/`-cat`, ext2/3/4
 * through `debugfs`. Anything else (a GPT disk image with verity, erofs) goes to
 * `systemd-dissect --copy-from`, systemd's own reader of extension images, which mounts it.
 */
import { mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isExecError, runTool } from '@trident/exec';
import { OsConfigError, reason } from '../errors.ts';
import { type ExtensionKind, RELEASE_DIRS } from './paths.ts';
import { type ExtensionRelease, extensionRelease } from './release.ts';

export type ImageFormat = 'squashfs' | 'ext4' | 'other';

/** The filesystem of a raw image, from its superblock magic. */
export async function imageFormat(file: string): Promise<ImageFormat> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(2048);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    if (bytesRead >= 4 && head.toString('latin1', 0, 4) === 'hsqs') return 'squashfs';
    // ext2/3/4: s_magic 0xEF53 at byte 56 of the superblock, which starts at 1024.
    if (bytesRead >= 1082 && head.readUInt16LE(1080) === 0xef53) return 'ext4';
    return 'other';
  } finally {
    await handle.close();
  }
}

async function squashfsEntries(file: string, dir: string): Promise<string[]> {
  const inside = dir.slice(1);
  const { stdout } = await runTool('unsquashfs', ['-no-progress', '-l', '-d', '', file, inside]);
  const prefix = `${dir}/`;
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith(prefix) && !line.slice(prefix.length).includes('/'))
    .map((line) => line.slice(prefix.length));
}

async function squashfsCat(file: string, path: string): Promise<string> {
  return (await runTool('unsquashfs', ['-cat', file, path.slice(1)])).stdout;
}

async function ext4Entries(file: string, dir: string): Promise<string[] | undefined> {
  const { stdout, stderr } = await runTool('debugfs', ['-R', `ls -p ${dir}`, file]);
  if (/File not found/u.test(stderr)) return undefined;
  // `ls -p`: /inode/mode/uid/gid/name/size/ per entry.
  return stdout
    .split('\n')
    .map((line) => line.split('/'))
    .filter((fields) => fields.length >= 6 && fields[5] !== '.' && fields[5] !== '..' && fields[5] !== '')
    .map((fields) => fields[5]!);
}

async function ext4Cat(file: string, path: string): Promise<string> {
  return (await runTool('debugfs', ['-R', `cat ${path}`, file])).stdout;
}

async function dissectCopy(
  file: string,
  dir: string,
): Promise<{ entries: string[]; texts: Map<string, string> }> {
  const target = await mkdtemp(join(tmpdir(), 'trident-extension-release-'));
  try {
    await runTool('systemd-dissect', ['--read-only', '--copy-from', file, dir, join(target, 'release.d')]);
    const entries = await readdir(join(target, 'release.d')).catch(() => []);
    const texts = new Map<string, string>();
    for (const entry of entries) texts.set(entry, await readFile(join(target, 'release.d', entry), 'utf8'));
    return { entries, texts };
  } finally {
    await rm(target, { recursive: true, force: true });
  }
}

/**
 * The release file of the image at `file` (a host path). `where` names the image in messages (its
 * URL). Fails with `OS_CONFIG_EXTENSION_RELEASE` when the file is missing, ambiguous or lacks its
 * ID, `OS_CONFIG_EXTENSION_INSPECT` when the image cannot be read at all.
 */
export async function readExtensionRelease(
  file: string,
  kind: ExtensionKind,
  where: string,
): Promise<ExtensionRelease> {
  const dir = RELEASE_DIRS[kind];
  let format: ImageFormat;
  let entries: string[] | undefined;
  let read: (entry: string) => Promise<string> = async () => '';
  const dissect = async (): Promise<void> => {
    const copied = await dissectCopy(file, dir);
    entries = copied.entries;
    read = async (entry) => copied.texts.get(entry) ?? '';
  };
  try {
    format = await imageFormat(file);
    try {
      if (format === 'squashfs') {
        entries = await squashfsEntries(file, dir);
        read = (entry) => squashfsCat(file, `${dir}/${entry}`);
      } else if (format === 'ext4') {
        entries = await ext4Entries(file, dir);
        read = (entry) => ext4Cat(file, `${dir}/${entry}`);
      } else await dissect();
    } catch (error) {
      // A servicing OS without squashfs-tools or e2fsprogs still has systemd's reader.
      if (format === 'other' || !isExecError(error, 'EXEC_MISSING_BINARY')) throw error;
      await dissect();
    }
  } catch (error) {
    throw new OsConfigError(
      'OS_CONFIG_EXTENSION_INSPECT',
      `cannot read the ${kind} image ${where} (${file}): ${reason(error)}. Extension images must be squashfs or ext4 filesystems, or disk images systemd-dissect reads`,
      { cause: error },
    );
  }
  const texts = new Map<string, string>();
  for (const entry of entries ?? []) if (entries?.length === 1) texts.set(entry, await read(entry));
  return extensionRelease(kind, entries ?? [], (entry) => texts.get(entry) ?? '', `${where} (${format})`);
}
