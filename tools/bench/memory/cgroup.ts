import fs from 'node:fs';
import path from 'node:path';

/**
 * A memory cgroup made for one benchmark run: cgroup v2 (`memory.max`, `memory.peak`) when the
 * unified hierarchy is mounted at /sys/fs/cgroup, otherwise v1 (`memory.limit_in_bytes`,
 * `memory.max_usage_in_bytes`). Page cache the run dirties is charged to it, as systemd's
 * `MemoryMax=` would charge it.
 */
export interface MemoryCgroup {
  readonly dir: string;
  readonly version: 1 | 2;
  /** Highest usage charged to the group (RSS + page cache), in bytes. */
  peak(): number;
  /** Whether the kernel's OOM killer fired inside the group. */
  oomKilled(): boolean;
  /** `sh -c` prefix that moves the shell into the group before it execs the command. */
  readonly enter: string;
  remove(): void;
}

const ROOT = '/sys/fs/cgroup';

export function cgroupVersion(): 1 | 2 {
  return fs.existsSync(path.join(ROOT, 'cgroup.controllers')) ? 2 : 1;
}

/** Creates `<root>/trident-bench-<name>` with `limit` bytes (undefined: no limit, peak only). */
export function createMemoryCgroup(name: string, limit: number | undefined): MemoryCgroup {
  const version = cgroupVersion();
  const base = version === 2 ? ROOT : path.join(ROOT, 'memory');
  if (version === 2) {
    const controllers = fs.readFileSync(path.join(ROOT, 'cgroup.subtree_control'), 'utf8');
    if (!controllers.split(/\s+/u).includes('memory'))
      fs.writeFileSync(path.join(ROOT, 'cgroup.subtree_control'), '+memory');
  }
  const dir = path.join(base, `trident-bench-${name}-${process.pid}`);
  if (fs.existsSync(dir)) fs.rmdirSync(dir);
  fs.mkdirSync(dir);
  const write = (file: string, value: string) => fs.writeFileSync(path.join(dir, file), value);
  const read = (file: string) => fs.readFileSync(path.join(dir, file), 'utf8');
  if (limit !== undefined) {
    if (version === 2) {
      write('memory.max', String(limit));
      if (fs.existsSync(path.join(dir, 'memory.swap.max'))) write('memory.swap.max', '0');
    } else {
      write('memory.limit_in_bytes', String(limit));
      // With swap accounting, also cap memory+swap so the limit cannot be escaped into swap.
      if (fs.existsSync(path.join(dir, 'memory.memsw.limit_in_bytes')))
        write('memory.memsw.limit_in_bytes', String(limit));
    }
  }
  const procs = path.join(dir, 'cgroup.procs');
  return {
    dir,
    version,
    enter: `echo $$ > ${procs} && exec`,
    peak: () => Number(read(version === 2 ? 'memory.peak' : 'memory.max_usage_in_bytes').trim()),
    oomKilled: () => {
      const events = read(version === 2 ? 'memory.events' : 'memory.oom_control');
      const match = /oom_kill (\d+)/u.exec(events);
      return match !== null && Number(match[1]) > 0;
    },
    remove: () => {
      // Page cache still charged to the group moves to the parent; only processes block rmdir.
      for (let attempt = 0; ; attempt++) {
        try {
          fs.rmdirSync(dir);
          return;
        } catch (error) {
          if (attempt >= 50) throw error;
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
        }
      }
    },
  };
}
