import { readdir, readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { formatMajMin, readMounts, readSwaps } from './mounts.ts';
import { describeHolder } from './sysfs.ts';

/**
 * Says who keeps a partition busy, for errors about partitions the kernel would not drop: its
 * mounts, swap use, device-mapper/md holders, and processes that have the node open. Empty when
 * nothing is found (the kernel may still be finishing a release).
 */
export async function explainBusyPartition(devicePath: string): Promise<string> {
  let rdev: bigint;
  try {
    const info = await stat(devicePath, { bigint: true });
    if (!info.isBlockDevice()) return '';
    rdev = info.rdev;
  } catch {
    return '';
  }
  const majMin = formatMajMin(rdev);
  const users: string[] = [];
  for (const mount of await readMounts().catch(() => [])) {
    if (mount.majMin === majMin) users.push(`mounted at ${mount.mountPoint}`);
  }
  for (const swap of await readSwaps().catch(() => [])) {
    if (swap.majMin === majMin) users.push('in use as swap');
  }
  const holders = await readdir(`/sys/class/block/${basename(devicePath)}/holders`).catch(
    () => [] as string[],
  );
  for (const holder of holders) users.push(`held by ${await describeHolder(holder)}`);
  for (const process of await processesWithOpen(rdev)) users.push(`open in process ${process}`);
  return users.length === 0 ? '' : `${devicePath} is ${users.join(', ')}`;
}

/** `PID (command)` of every process with the block device `rdev` open. */
async function processesWithOpen(rdev: bigint): Promise<string[]> {
  const found: string[] = [];
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((name) => /^\d+$/u.test(name));
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const info = await stat(`/proc/${pid}/fd/${fd}`, { bigint: true }).catch(() => undefined);
      if (info === undefined || !info.isBlockDevice() || info.rdev !== rdev) continue;
      const command = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
      found.push(`${pid} (${command})`);
      break;
    }
  }
  return found;
}
