import { access, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { publishStep, publishWarning } from './diagnostics.ts';
import { BlockWriterError } from './errors.ts';
import { runTool } from './exec.ts';
import { kernelNameOf, readBlockDevice } from './sysfs.ts';

export interface RereadOptions {
  /** Partition numbers whose device nodes to wait for (e.g. from `writeGpt(...).partitions`). */
  partitions?: readonly number[];
  /** How long to wait for partition nodes (default 10 s). */
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
 * Nodes are awaited for every partition the kernel now knows. A no-op for regular files.
 */
export async function rereadPartitionTable(path: string, options: RereadOptions = {}): Promise<RereadResult> {
  if ((await stat(path)).isFile()) return { rereadByKernel: false, partitions: [] };
  const blkrrpart = await runTool('blockdev', ['--rereadpt', path], path, optionalSignal(options.signal));
  const partx = await runTool('partx', ['--update', path], path, optionalSignal(options.signal));
  if (partx.exitCode !== 0 && blkrrpart.exitCode !== 0) {
    throw new BlockWriterError(
      'BLOCK_TOOL_FAILED',
      `${path}: the kernel did not re-read the partition table (blockdev --rereadpt: ${blkrrpart.stderr.trim()}; partx --update: ${partx.stderr.trim()}); close the target and whatever uses the disk, then retry or reboot.`,
      { device: path },
    );
  }
  const name = await kernelNameOf(path);
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  const wanted = options.partitions;
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
      return { rereadByKernel: blkrrpart.exitCode === 0, partitions: present };
    }
    if (Date.now() >= deadline) {
      if (missingInKernel.length > 0 && present.length === known.length) {
        // The kernel did not create these partitions; there are no nodes to wait for.
        publishWarning({
          kind: 'partitions-not-in-kernel',
          device: path,
          message: `${path}: the kernel shows no partition(s) ${missingInKernel.join(', ')} after re-reading the table; they will appear after a reboot.`,
        });
        return { rereadByKernel: blkrrpart.exitCode === 0, partitions: present };
      }
      throw new BlockWriterError(
        'BLOCK_PARTITION_NODE_TIMEOUT',
        `${path}: partition device nodes ${known
          .filter((p) => !present.some((q) => q.number === p.number))
          .map((p) => p.path)
          .join(
            ', ',
          )} did not appear within ${options.timeoutMs ?? 10_000} ms; check that udev or devtmpfs is running.`,
        { device: path },
      );
    }
    await sleep(50, undefined, optionalSignal(options.signal));
  }
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
