/**
 * Block device nodes and their kernel names, for the devices install stacks on partitions: the
 * nodes udev creates asynchronously are awaited, and sysfs tells which devices hold which.
 */
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { EngineError } from '../../../errors.ts';

/** How long a node (a new partition, array or mapping) may take to appear. */
const NODE_WAIT_MS = 30_000;
const NODE_POLL_MS = 100;

/** Waits until `path` is a block device; a `subkind` error naming it when it does not appear. */
export async function waitForNode(path: string, signal: AbortSignal, subkind: string): Promise<void> {
  const deadline = Date.now() + NODE_WAIT_MS;
  for (;;) {
    signal.throwIfAborted();
    if ((await stat(path).catch(() => undefined))?.isBlockDevice()) return;
    if (Date.now() >= deadline)
      throw new EngineError(
        'SERVICING_ERROR',
        subkind,
        `block device ${path} did not appear within ${NODE_WAIT_MS / 1000} s`,
        {
          code: 'ENGINE_DEVICE_NODE_MISSING',
        },
      );
    await new Promise((resolve) => setTimeout(resolve, NODE_POLL_MS));
  }
}

/** The kernel name behind a node or link (`/dev/md/root` → `md127`). */
export async function kernelName(path: string): Promise<string> {
  return basename(await realpath(path));
}

/** Kernel names of the devices directly under `name` (`/sys/block/<name>/slaves`). */
export async function holdersBelow(name: string): Promise<string[]> {
  return readdir(`/sys/class/block/${name}/slaves`).catch(() => []);
}

/** The whole disk a kernel block device belongs to: a partition's parent, else itself. */
export async function diskOf(name: string): Promise<string> {
  const isPartition = await stat(`/sys/class/block/${name}/partition`).then(
    () => true,
    () => false,
  );
  if (!isPartition) return name;
  return basename((await realpath(`/sys/class/block/${name}`)).replace(/\/[^/]+$/u, ''));
}

/** Every whole disk underneath a device, through arrays and mappings. */
export async function disksUnder(name: string, seen = new Set<string>()): Promise<Set<string>> {
  const disks = new Set<string>();
  if (seen.has(name)) return disks;
  seen.add(name);
  const below = await holdersBelow(name);
  if (below.length === 0) {
    disks.add(await diskOf(name));
    return disks;
  }
  for (const child of below) for (const disk of await disksUnder(child, seen)) disks.add(disk);
  return disks;
}

/** A sysfs attribute of a block device, trimmed; undefined when it does not exist. */
export async function blockAttribute(name: string, attribute: string): Promise<string | undefined> {
  return (await readFile(`/sys/class/block/${name}/${attribute}`, 'utf8').catch(() => undefined))?.trim();
}

/** Kernel names of the block devices whose name starts with `prefix` (`md`, `dm-`). */
export async function blockDevicesNamed(prefix: string): Promise<string[]> {
  return (await readdir('/sys/class/block').catch(() => [] as string[])).filter((n) => n.startsWith(prefix));
}
