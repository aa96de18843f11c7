import type { BigIntStats } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type OpenFileTargetOptions, openError, REPLACE_HINT } from './file-target.ts';
import { fileProblems } from './safety.ts';
import {
  problem,
  readSystemState,
  type SafetyProblem,
  type SafetyReport,
  sizeProblems,
} from './safety-rules.ts';
import { isLockedByOthers, lockHolders } from './target-lock.ts';

/**
 * What `openFileTarget` would refuse, found without opening anything for writing and without
 * taking the lock (a passive look at /proc/locks): for plans and `--dry-run`. The open repeats
 * every check; this only reports them early.
 */
export async function inspectFileTarget(
  path: string,
  options: OpenFileTargetOptions = {},
): Promise<SafetyReport> {
  const sectorSize = options.sectorSize ?? 512;
  const existing = options.existing ?? 'refuse';
  const requirements = options.requirements ?? {};
  const report = (size: number, problems: SafetyProblem[]): SafetyReport => ({
    device: path,
    kind: 'file',
    size,
    sectorSize,
    problems,
  });
  let info: BigIntStats;
  try {
    info = await lstat(path, { bigint: true });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw openError(path, cause);
    if (existing === 'keep') return report(0, [openErrorProblem(path, cause)]);
    const parent = await stat(dirname(path)).catch(() => undefined);
    const problems: SafetyProblem[] = [];
    if (parent === undefined || !parent.isDirectory()) {
      problems.push(
        problem(
          'BLOCK_TARGET_NOT_FOUND',
          path,
          `its directory ${dirname(path)} does not exist`,
          'create the directory or pick another path.',
        ),
      );
    }
    const size = options.size ?? 0;
    problems.push(...sizeProblems(path, size, sectorSize, 'file', requirements));
    return report(size, problems);
  }
  if (info.isSymbolicLink()) {
    return report(0, [openErrorProblem(path, Object.assign(new Error('symbolic link'), { code: 'ELOOP' }))]);
  }
  if (!info.isFile()) {
    return report(0, [
      problem(
        'BLOCK_TARGET_NOT_SUPPORTED',
        path,
        'it exists and is not a regular file',
        'pass a whole disk with --disk, or another file path.',
      ),
    ]);
  }
  const identity = { dev: info.dev, ino: info.ino };
  const problems: SafetyProblem[] = [];
  if (await isLockedByOthers(identity)) {
    const holders = await lockHolders(identity);
    problems.push(
      problem(
        'BLOCK_TARGET_LOCKED',
        path,
        `${holders.length === 0 ? 'another process' : holders.map((h) => `process ${h.pid} (${h.command})`).join(', ')} holds a write lock on it, so another run is writing this disk image`,
        'wait for it to finish or stop it, then retry.',
      ),
    );
  }
  const finalSize = existing === 'replace' ? (options.size ?? Number(info.size)) : Number(info.size);
  const checked =
    existing === 'refuse'
      ? { ...(requirements.protect ? { protect: requirements.protect } : {}) }
      : requirements;
  problems.push(
    ...(await fileProblems(path, identity, finalSize, sectorSize, await readSystemState(), checked)),
  );
  if (existing === 'refuse') {
    problems.push(
      problem('BLOCK_TARGET_EXISTS', path, 'it already exists', `${REPLACE_HINT}, or pick another path.`),
    );
  }
  return report(finalSize, problems);
}

function openErrorProblem(path: string, cause: unknown): SafetyProblem {
  const error = openError(path, cause);
  return {
    code: error.code,
    device: path,
    reason: error.message.replace(`${path}: `, ''),
    message: error.message,
    toError: () => error,
  };
}
