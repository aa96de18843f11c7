/**
 * The fixture cache: bootable OS disks, their COSIs, root-filesystem tarballs and the KVM probe
 * result live outside the repository, keyed by a hash of everything that went into them, so CI
 * builds each once per run and a developer once. Builds are serialised across processes (vitest runs
 * test files in parallel) by lock directories that die with their owner.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** `TRIDENT_FIXTURE_CACHE`, else /var/cache/trident-fixtures for root, else the XDG cache. */
export function fixtureCacheDir(): string {
  const explicit = process.env['TRIDENT_FIXTURE_CACHE'];
  if (explicit) return explicit;
  if (process.getuid?.() === 0) return '/var/cache/trident-fixtures';
  const xdg = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(xdg, 'trident-fixtures');
}

/** A short, stable key for a set of inputs (file contents, parameters). */
export function contentKey(parts: ReadonlyArray<string | Uint8Array>): string {
  const hash = createHash('sha256');
  for (const part of parts) {
    const bytes = typeof part === 'string' ? Buffer.from(part) : part;
    hash.update(`${bytes.length}:`);
    hash.update(bytes);
  }
  return hash.digest('hex').slice(0, 20);
}

export function fileKeyParts(paths: readonly string[]): Array<string | Uint8Array> {
  return paths.flatMap((path) => [path, readFileSync(path)]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the named lock (a directory under the cache holding the owner's pid) and returns its
 * release function. A lock whose owner died is taken over, so a killed test run never wedges the
 * next one.
 */
export async function acquireLock(name: string, pollMs = 500): Promise<() => void> {
  const dir = join(fixtureCacheDir(), 'locks');
  mkdirSync(dir, { recursive: true });
  const lock = join(dir, `${name}.lock`);
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let stale: boolean;
      try {
        const owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
        stale = owner !== process.pid && !alive(owner);
      } catch {
        // No pid yet: its owner is between mkdir and write, unless that was long ago.
        const since = statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0;
        stale = Date.now() - since > 10_000;
      }
      if (stale) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    rmSync(lock, { recursive: true, force: true });
  };
}

/** Runs `fn` holding the named lock. */
export async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const release = await acquireLock(name);
  try {
    return await fn();
  } finally {
    release();
  }
}
