/**
 * Loop devices and mounts for tests, always cleaned up: every device attached and every mount made
 * through a `LoopScope` is undone by `scope.cleanup()` (call it in afterAll/finally), and, as a last
 * resort, when the process exits. Only what this scope created is ever touched.
 */
import { execFile, execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type LoopSupport = { available: true } | { available: false; reason: string };

/** Whether loop devices can be used here; tests skip with `reason` when not (CI runs as root). */
export function loopDeviceSupport(): LoopSupport {
  if (process.getuid?.() !== 0)
    return { available: false, reason: 'loop-device tests need root (CI runs them as root)' };
  if (!existsSync('/dev/loop-control'))
    return { available: false, reason: '/dev/loop-control is missing (no loop driver)' };
  try {
    accessSync('/dev/loop-control', constants.W_OK);
  } catch {
    return { available: false, reason: '/dev/loop-control is not writable' };
  }
  return { available: true };
}

export interface AttachOptions {
  /** Scan partitions (`losetup -P`) and make sure the kernel has them (`partx --update`). */
  partitions?: boolean;
  /** Logical sector size (`losetup -b`), e.g. 4096. */
  sectorSize?: number;
  readOnly?: boolean;
  offset?: number;
  sizeLimit?: number;
}

export interface LoopDevice {
  /** `/dev/loopN` */
  path: string;
  /** `loopN` */
  name: string;
  backingFile: string;
  /** `/dev/loopNpM` */
  partitionPath(number: number): string;
  /** Partition nodes the kernel currently has, e.g. `['/dev/loop3p1', '/dev/loop3p2']`. */
  partitions(): string[];
}

export interface MountOptions {
  fsType?: string;
  readOnly?: boolean;
}

export interface LoopScope {
  attach(file: string, options?: AttachOptions): Promise<LoopDevice>;
  /** Mounts `device` on a fresh temporary directory and returns the directory. */
  mount(device: string, options?: MountOptions): Promise<string>;
  /** `swapon` on a device already formatted with mkswap; undone by cleanup. */
  swapon(device: string): Promise<void>;
  /** Detaches one device now (and forgets it). */
  detach(device: LoopDevice): Promise<void>;
  /** Unmounts, swapoffs and detaches everything this scope made, newest first. Never throws. */
  cleanup(): Promise<void>;
}

function run(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
    });
  });
}

type Undo = { kind: 'loop' | 'mount' | 'swap'; target: string; dir?: string };

const live = new Set<Undo>();
let exitHookInstalled = false;

function undoSync(item: Undo): void {
  const attempts: Record<Undo['kind'], Array<[string, string[]]>> = {
    mount: [
      ['umount', [item.target]],
      ['umount', ['-l', item.target]],
    ],
    swap: [['swapoff', [item.target]]],
    loop: [['losetup', ['--detach', item.target]]],
  };
  for (const [command, args] of attempts[item.kind]) {
    try {
      execFileSync(command, args, { stdio: 'ignore' });
      break;
    } catch {
      // try the next way, then give up: cleanup must never throw
    }
  }
  if (item.dir !== undefined) rmSync(item.dir, { recursive: true, force: true });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const item of [...live].reverse()) undoSync(item);
  });
}

function partitionPath(path: string, number: number): string {
  return `${path}p${number}`;
}

export function createLoopScope(): LoopScope {
  const undo: Undo[] = [];
  installExitHook();

  const track = (item: Undo): void => {
    undo.push(item);
    live.add(item);
  };

  const release = async (item: Undo): Promise<void> => {
    const index = undo.indexOf(item);
    if (index >= 0) undo.splice(index, 1);
    live.delete(item);
    // udev or a just-finished fsck can hold a device for a moment; retry briefly.
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        if (item.kind === 'mount') await run('umount', [item.target]);
        else if (item.kind === 'swap') await run('swapoff', [item.target]);
        else await run('losetup', ['--detach', item.target]);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
        if (attempt === 19) undoSync(item);
      }
    }
    if (item.dir !== undefined) rmSync(item.dir, { recursive: true, force: true });
  };

  return {
    async attach(file, options = {}) {
      const args = ['--find', '--show'];
      if (options.partitions === true) args.push('--partscan');
      if (options.sectorSize !== undefined) args.push('--sector-size', String(options.sectorSize));
      if (options.readOnly === true) args.push('--read-only');
      if (options.offset !== undefined) args.push('--offset', String(options.offset));
      if (options.sizeLimit !== undefined) args.push('--sizelimit', String(options.sizeLimit));
      args.push(file);
      const path = (await run('losetup', args)).trim();
      track({ kind: 'loop', target: path });
      const name = path.replace('/dev/', '');
      if (options.partitions === true) {
        // Some kernels (no CONFIG_EFI_PARTITION) find no GPT on their own; partx reads it in user space.
        await run('partx', ['--update', path]).catch(() => undefined);
      }
      return {
        path,
        name,
        backingFile: file,
        partitionPath: (number) => partitionPath(path, number),
        partitions: () =>
          readdirSync(`/sys/block/${name}`)
            .filter((entry) => entry.startsWith(`${name}p`))
            .sort()
            .map((entry) => `/dev/${entry}`),
      };
    },
    async mount(device, options = {}) {
      const dir = mkdtempSync(join(tmpdir(), 'trident-mnt-'));
      const args: string[] = [];
      if (options.fsType !== undefined) args.push('-t', options.fsType);
      if (options.readOnly === true) args.push('-o', 'ro');
      try {
        await run('mount', [...args, device, dir]);
      } catch (error) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
      track({ kind: 'mount', target: dir, dir });
      return dir;
    },
    async swapon(device) {
      await run('swapon', [device]);
      track({ kind: 'swap', target: device });
    },
    async detach(device) {
      const item = undo.find((u) => u.kind === 'loop' && u.target === device.path);
      if (item !== undefined) await release(item);
    },
    async cleanup() {
      for (const item of [...undo].reverse()) await release(item);
    },
  };
}

/** Backing file of a loop device, read from sysfs (for assertions). */
export function loopBackingFile(name: string): string | undefined {
  try {
    return readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').trim();
  } catch {
    return undefined;
  }
}
