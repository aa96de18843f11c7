import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { type FileHandle, open, readdir, readFile, stat } from 'node:fs/promises';
import { BlockWriterError, describeCause } from './errors.ts';
import type { FileIdentity } from './file-identity.ts';

/**
 * Advisory whole-file locks on disk-image targets, so two runs never write one file at once.
 *
 * A real flock(2) exclusive lock, taken on an open file description of the target that this
 * process keeps until `release()`: the kernel drops it when the process dies, however it dies, so
 * there is never a stale lock to clean up. Node has no flock binding; util-linux `flock(1)` is given
 * our descriptor as its fd 3 and locks it (`flock -n 3`), the shell idiom `( flock -n 9 ) 9>file`:
 * the lock belongs to the open file description, which we share, so it outlives the helper.
 */
export interface TargetLock {
  readonly path: string;
  /** Drops the lock. Idempotent. */
  release(): Promise<void>;
}

const CONFLICT = 75;

function lockHelper(fd: number): Promise<{ code: number | null; stderr: string; error?: Error }> {
  return new Promise((resolve) => {
    let stderr = '';
    const child = spawn(
      'flock',
      ['--nonblock', '--exclusive', '--conflict-exit-code', String(CONFLICT), '3'],
      {
        stdio: ['ignore', 'ignore', 'pipe', fd],
        env: { ...process.env, LC_ALL: 'C' },
      },
    );
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', (error) => resolve({ code: null, stderr, error }));
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

/**
 * Locks the file open as `handle` (a second descriptor is opened through /proc/self/fd, so the lock
 * survives closing `handle`). Throws `BLOCK_TARGET_LOCKED` naming the holder when another process
 * holds it, `BLOCK_TOOL_FAILED` when flock(1) is missing.
 */
export async function lockOpenFile(
  handle: FileHandle,
  path: string,
  identity: FileIdentity,
): Promise<TargetLock> {
  let lockHandle: FileHandle;
  try {
    lockHandle = await open(`/proc/self/fd/${handle.fd}`, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (cause) {
    throw new BlockWriterError(
      'BLOCK_IO',
      `${path}: cannot open a second descriptor to lock it (${describeCause(cause)}); is /proc mounted?`,
      { device: path, cause },
    );
  }
  const result = await lockHelper(lockHandle.fd);
  if (result.code === 0) {
    let released = false;
    return {
      path,
      async release() {
        if (released) return;
        released = true;
        await lockHandle.close();
      },
    };
  }
  await lockHandle.close();
  if (result.code === CONFLICT) {
    const holders = await lockHolders(identity);
    const who =
      holders.length === 0
        ? 'another process (it could not be identified)'
        : holders.map((h) => `process ${h.pid} (${h.command})`).join(', ');
    throw new BlockWriterError(
      'BLOCK_TARGET_LOCKED',
      `${path}: refusing to write: ${who} holds a write lock on it, so another run is writing this disk image; wait for it to finish or stop it, then retry.`,
      { device: path },
    );
  }
  const why =
    result.error !== undefined
      ? (result.error as NodeJS.ErrnoException).code === 'ENOENT'
        ? "'flock' (util-linux) is not installed or not on PATH"
        : `'flock' could not run (${describeCause(result.error)})`
      : `'flock' failed with exit code ${result.code}: ${result.stderr.trim()}`;
  throw new BlockWriterError(
    'BLOCK_TOOL_FAILED',
    `${path}: cannot lock the file: ${why}; install util-linux.`,
    {
      device: path,
      ...(result.error === undefined ? {} : { cause: result.error }),
    },
  );
}

export interface LockHolder {
  pid: number;
  /** Command line, shortened. */
  command: string;
}

/** `fe:00:9978281` in /proc/locks: major and minor in hex, inode in decimal. */
function lockKey(identity: FileIdentity): { major: number; minor: number; ino: bigint } {
  const dev = identity.dev;
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return { major, minor, ino: identity.ino };
}

/** Whether /proc/locks lists an exclusive flock on the file (a passive check: nothing is locked). */
export async function isLockedByOthers(identity: FileIdentity): Promise<boolean> {
  let text: string;
  try {
    text = await readFile('/proc/locks', 'utf8');
  } catch {
    return false;
  }
  const key = lockKey(identity);
  return text.split('\n').some((line) => {
    const fields = line.trim().split(/\s+/u);
    if (fields[1] !== 'FLOCK' || fields[3] !== 'WRITE') return false;
    const [major, minor, ino] = (fields[5] ?? '').split(':');
    return (
      Number.parseInt(major ?? '', 16) === key.major &&
      Number.parseInt(minor ?? '', 16) === key.minor &&
      ino === String(key.ino)
    );
  });
}

/**
 * Processes that hold an exclusive flock on the file: an open descriptor to the same inode whose
 * /proc/PID/fdinfo lists a FLOCK WRITE lock. (/proc/locks names the process that took the lock,
 * which is our short-lived helper, not the holder.)
 */
export async function lockHolders(identity: FileIdentity): Promise<LockHolder[]> {
  const holders: LockHolder[] = [];
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((name) => /^\d+$/u.test(name));
  } catch {
    return holders;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = await readdir(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const info = await stat(`/proc/${pid}/fd/${fd}`, { bigint: true });
        if (info.dev !== identity.dev || info.ino !== identity.ino) continue;
        const fdinfo = await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
        if (!/^lock:.*\bFLOCK\s+ADVISORY\s+WRITE\b/mu.test(fdinfo)) continue;
        const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8'))
          .split('\0')
          .filter(Boolean)
          .join(' ');
        holders.push({
          pid: Number(pid),
          command: cmdline.length > 160 ? `${cmdline.slice(0, 157)}...` : cmdline,
        });
        break;
      } catch {
        // the process or descriptor went away
      }
    }
  }
  return holders;
}
