import { access, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { runDeviceTool, type ToolResult } from './device-tool.ts';
import { publishStep, publishWarning } from './diagnostics.ts';
import { BlockWriterError } from './errors.ts';
import { explainBusyPartition } from './partition-users.ts';
import { kernelNameOf, type PartitionInfo, readBlockDevice } from './sysfs.ts';

export interface ExpectedPartition {
  /** GPT partition number. */
  number: number;
  /** Absolute byte offset on the disk. */
  offset: number;
  /** Size in bytes. */
  size: number;
}

export interface RereadOptions {
  /** Partition numbers whose device nodes to wait for (e.g. from `writeGpt(...).partitions`). */
  partitions?: readonly number[];
  /**
   * The table just written (`writeGpt(...).partitions`). The kernel's view must then match it
   * exactly: these numbers with these starts and sizes, and no other partition. Differences are
   * repaired (stale entries deleted, missing ones added, with backoff) and, if they persist,
   * reported with their cause as `BLOCK_PARTITION_MISMATCH`.
   */
  expected?: readonly ExpectedPartition[];
  /** How long to keep trying (default 10 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface RereadResult {
  /** True when the kernel accepted BLKRRPART. */
  rereadByKernel: boolean;
  /** Partition device nodes now present, by number. */
  partitions: Array<{ number: number; path: string; start: number; size: number }>;
}

/**
 * Tells the kernel about the new table of a block device and waits for the partition nodes. First
 * BLKRRPART (`blockdev --rereadpt`); it fails with EBUSY while the target is still open exclusively or
 * a partition is in use, and some kernels lack the GPT parser, so `partx --update` follows in every
 * case: it reads the table in user space and adds, resizes or removes kernel partitions (BLKPG).
 *
 * Neither is trusted: `partx --update` exits 0 even when deleting an old partition failed with
 * EBUSY. With `expected`, the kernel's partitions (sysfs: number, start, size of every
 * `/sys/block/<disk>/<disk>pN`) are compared with the table written after every attempt; stale
 * entries are deleted (`partx --delete --nr N`), missing or misplaced ones added again, with
 * backoff, until they match or the time is up. A no-op for regular files.
 */
export async function rereadPartitionTable(path: string, options: RereadOptions = {}): Promise<RereadResult> {
  if ((await stat(path)).isFile()) return { rereadByKernel: false, partitions: [] };
  const signal = optionalSignal(options.signal);
  const blkrrpart = await runDeviceTool('blockdev', ['--rereadpt', path], path, signal);
  const partx = await runDeviceTool('partx', ['--update', path], path, signal);
  if (partx.exitCode !== 0 && blkrrpart.exitCode !== 0) {
    throw new BlockWriterError(
      'BLOCK_TOOL_FAILED',
      `${path}: the kernel did not re-read the partition table (blockdev --rereadpt: ${blkrrpart.stderr.trim()}; partx --update: ${partx.stderr.trim()}); close the target and whatever uses the disk, then retry or reboot.`,
      { device: path },
    );
  }
  const name = await kernelNameOf(path);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  const rereadByKernel = blkrrpart.exitCode === 0;
  if (options.expected !== undefined) {
    await reconcile(path, name, options.expected, deadline, options.signal);
  }
  const wanted = options.partitions ?? options.expected?.map((p) => p.number);
  for (;;) {
    const info = await readBlockDevice(name);
    const known = info.partitions.filter((p) => wanted === undefined || wanted.includes(p.number));
    const present: RereadResult['partitions'] = [];
    for (const p of known) {
      if (await exists(p.path))
        present.push({ number: p.number, path: p.path, start: p.start, size: p.size });
    }
    const missingInKernel = (wanted ?? []).filter((n) => !info.partitions.some((p) => p.number === n));
    if (present.length === known.length && missingInKernel.length === 0) {
      publishStep({ step: 'reread', device: path, detail: { partitions: present.map((p) => p.path) } });
      return { rereadByKernel, partitions: present };
    }
    if (Date.now() >= deadline) {
      if (missingInKernel.length > 0 && present.length === known.length) {
        // The kernel did not create these partitions; there are no nodes to wait for.
        publishWarning({
          kind: 'partitions-not-in-kernel',
          device: path,
          message: `${path}: the kernel shows no partition(s) ${missingInKernel.join(', ')} after re-reading the table; they will appear after a reboot.`,
        });
        return { rereadByKernel, partitions: present };
      }
      throw new BlockWriterError(
        'BLOCK_PARTITION_NODE_TIMEOUT',
        `${path}: partition device nodes ${known
          .filter((p) => !present.some((q) => q.number === p.number))
          .map((p) => p.path)
          .join(', ')} did not appear within ${timeoutMs} ms; check that udev or devtmpfs is running.`,
        { device: path },
      );
    }
    await sleep(50, undefined, signal);
  }
}

interface Difference {
  number: number;
  /** `stale`: the kernel has it, the table does not; `missing`: the reverse; `moved`: both, elsewhere. */
  kind: 'stale' | 'missing' | 'moved';
  kernel: PartitionInfo | undefined;
  expected: ExpectedPartition | undefined;
}

export function comparePartitions(
  kernel: readonly PartitionInfo[],
  expected: readonly ExpectedPartition[],
): Difference[] {
  const differences: Difference[] = [];
  for (const p of kernel) {
    const want = expected.find((e) => e.number === p.number);
    if (want === undefined)
      differences.push({ number: p.number, kind: 'stale', kernel: p, expected: undefined });
    else if (want.offset !== p.start || want.size !== p.size)
      differences.push({ number: p.number, kind: 'moved', kernel: p, expected: want });
  }
  for (const want of expected) {
    if (!kernel.some((p) => p.number === want.number))
      differences.push({ number: want.number, kind: 'missing', kernel: undefined, expected: want });
  }
  return differences.sort((a, b) => a.number - b.number);
}

function describe(path: string, difference: Difference): string {
  const at = (offset: number, size: number) => `at byte ${offset}, ${size} bytes`;
  const { kernel, expected } = difference;
  switch (difference.kind) {
    case 'stale':
      return `the kernel still has partition ${difference.number} (${at(kernel!.start, kernel!.size)}), which the new table does not`;
    case 'missing':
      return `the kernel has no partition ${difference.number} (the table puts it ${at(expected!.offset, expected!.size)})`;
    case 'moved':
      return `the kernel places partition ${difference.number} ${at(kernel!.start, kernel!.size)}, the table ${at(expected!.offset, expected!.size)}`;
  }
  return `${path}: partition ${difference.number} differs`;
}

/**
 * Makes the kernel's partitions of `path` match `expected`: after each look at sysfs, deletes what
 * is stale or misplaced and adds what is missing (BLKPG through partx), backing off from 50 ms to
 * 1.6 s, until they match or `deadline`. Then throws the differences left, each with what the
 * kernel or partx said and who uses the partition.
 */
async function reconcile(
  path: string,
  name: string,
  expected: readonly ExpectedPartition[],
  deadline: number,
  abort: AbortSignal | undefined,
): Promise<void> {
  const signal = optionalSignal(abort);
  const failures = new Map<number, string>();
  let delay = 50;
  for (let attempt = 1; ; attempt++) {
    const differences = comparePartitions((await readBlockDevice(name)).partitions, expected);
    if (differences.length === 0) {
      if (attempt > 1) {
        publishStep({ step: 'reread-repaired', device: path, detail: { attempts: attempt } });
      }
      return;
    }
    if (Date.now() >= deadline) {
      const lines: string[] = [];
      for (const difference of differences) {
        const tool = failures.get(difference.number);
        const users =
          difference.kernel === undefined ? '' : await explainBusyPartition(difference.kernel.path);
        lines.push(`${describe(path, difference)}${tool ? ` (${tool})` : ''}${users ? `; ${users}` : ''}`);
      }
      throw new BlockWriterError(
        'BLOCK_PARTITION_MISMATCH',
        `${path}: after re-reading the partition table the kernel's view still differs from the table written, after ${attempt} attempts: ${lines.join('; ')}. Stop whatever uses those partitions (umount, swapoff, dmsetup remove, or the process named), then run 'partx --update ${path}' or reboot.`,
        { device: path },
      );
    }
    for (const difference of differences) {
      const nr = String(difference.number);
      if (difference.kind !== 'missing') {
        note(
          failures,
          difference.number,
          'partx --delete',
          await runDeviceTool('partx', ['--delete', '--nr', nr, path], path, signal),
        );
      }
      if (difference.kind !== 'stale') {
        note(
          failures,
          difference.number,
          'partx --add',
          await runDeviceTool('partx', ['--add', '--nr', nr, path], path, signal),
        );
      }
    }
    await sleep(delay, undefined, signal);
    delay = Math.min(delay * 2, 1600);
  }
}

function note(failures: Map<number, string>, number: number, what: string, result: ToolResult): void {
  if (result.exitCode === 0) return;
  failures.set(number, `${what}: ${result.stderr.trim() || `exit code ${result.exitCode}`}`);
}

function optionalSignal(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal === undefined ? {} : { signal };
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
