import type { CheckRootOutcome } from './servicing/commit/check-root.ts';
import type { CommitOptions, CommitOutcome } from './servicing/commit/commit.ts';

/**
 * `commitHost` (servicing/commit/commit.ts) and `checkBootedRoot` (check-root.ts), loaded when
 * called: the package index is imported by every command, and commit's datastore, boot and
 * OS-configuration modules are only for `trident commit` and the daemon's commit (issue 14:
 * start-up loads what the command needs).
 */
export async function commitHost(options: CommitOptions): Promise<CommitOutcome> {
  return (await import('./servicing/commit/commit.ts')).commitHost(options);
}

export async function checkBootedRoot(options: CommitOptions): Promise<CheckRootOutcome> {
  return (await import('./servicing/commit/check-root.ts')).checkBootedRoot(options);
}
