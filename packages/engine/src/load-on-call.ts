import type { CheckRootOutcome } from './servicing/commit/check-root.ts';
import type { CommitOptions, CommitOutcome } from './servicing/commit/commit.ts';
import type { RollbackOptions, RollbackOutcome } from './servicing/rollback/rollback.ts';

/**
 * The package index's async entry points that need the datastore, boot and OS-configuration
 * modules (`commitHost`, `checkBootedRoot`, `rollbackHost`), each loaded when called: the index is
 * imported by every command, and a stream-disk must not pay for them at start (issue 14: start-up
 * loads what the command needs; 107 -> 96 MiB RSS for `trident stream-disk`).
 */
export async function commitHost(options: CommitOptions): Promise<CommitOutcome> {
  return (await import('./servicing/commit/commit.ts')).commitHost(options);
}

export async function checkBootedRoot(options: CommitOptions): Promise<CheckRootOutcome> {
  return (await import('./servicing/commit/check-root.ts')).checkBootedRoot(options);
}

export async function rollbackHost(options: RollbackOptions): Promise<RollbackOutcome> {
  return (await import('./servicing/rollback/rollback.ts')).rollbackHost(options);
}
