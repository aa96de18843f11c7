import type { CommitOptions, CommitOutcome } from './servicing/commit/commit.ts';

/**
 * `commitHost` (servicing/commit/commit.ts), loaded when called: the package index is imported by
 * every command, and commit's datastore, boot and OS-configuration modules are only for `trident
 * commit` and the daemon's commit (issue 14: start-up loads what the command needs).
 */
export async function commitHost(options: CommitOptions): Promise<CommitOutcome> {
  return (await import('./servicing/commit/commit.ts')).commitHost(options);
}
