import { readFile, stat } from 'node:fs/promises';

/** One line of /proc/self/mountinfo, the fields the safety checks need. */
export interface MountEntry {
  /** `major:minor` of the mounted device as the kernel reports it (`0:N` for btrfs, overlay...). */
  majMin: string;
  mountPoint: string;
  fsType: string;
  /** Mount source, e.g. `/dev/sda2`, `overlay`, `tmpfs`. */
  source: string;
}

export interface SwapEntry {
  /** Swap device or file path as listed in /proc/swaps. */
  path: string;
  /** `major:minor` when the swap area is a block device. */
  majMin: string | undefined;
}

/** The kernel escapes space, tab, newline and backslash in mountinfo and swaps as `\ooo`. */
function unescapeOctal(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** Parses /proc/self/mountinfo (proc(5)): `id parent maj:min root mountpoint opts [optional...] - fstype source superopts`. */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    const majMin = fields[2];
    const mountPoint = fields[4];
    const fsType = fields[separator + 1];
    const source = fields[separator + 2];
    if (separator < 0 || majMin === undefined || mountPoint === undefined || fsType === undefined) continue;
    entries.push({
      majMin,
      mountPoint: unescapeOctal(mountPoint),
      fsType,
      source: unescapeOctal(source ?? ''),
    });
  }
  return entries;
}

export async function readMounts(): Promise<MountEntry[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
}

/** `major:minor` of a device node, or undefined when the path is not a block device. */
export async function blockMajMin(path: string): Promise<string | undefined> {
  try {
    const info = await stat(path, { bigint: true });
    if (!info.isBlockDevice()) return undefined;
    return formatMajMin(info.rdev);
  } catch {
    return undefined;
  }
}

/** Decodes a Linux dev_t (glibc's gnu_dev_major/minor layout). */
export function formatMajMin(rdev: bigint): string {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

export async function readSwaps(): Promise<SwapEntry[]> {
  let text: string;
  try {
    text = await readFile('/proc/swaps', 'utf8');
  } catch {
    return [];
  }
  const entries: SwapEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const name = line.split(/\s+/)[0];
    if (name === undefined || name === '') continue;
    const path = unescapeOctal(name);
    entries.push({ path, majMin: await blockMajMin(path) });
  }
  return entries;
}

/**
 * `major:minor` of the device backing `/`. Filesystems that report an anonymous device (`0:N`:
 * btrfs, overlay) fall back to the mount source when it is a device node.
 */
export async function rootDeviceMajMin(mounts: readonly MountEntry[]): Promise<string | undefined> {
  const root = mounts.findLast((entry) => entry.mountPoint === '/');
  if (root === undefined) return undefined;
  if (!root.majMin.startsWith('0:')) return root.majMin;
  return root.source.startsWith('/') ? blockMajMin(root.source) : undefined;
}
