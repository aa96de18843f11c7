/**
 * The rollback chain: which earlier states a manual rollback can return to, read from the
 * datastore's history (reference servicing.md §9; upstream `engine/manual_rollback/utils.rs`).
 * Rows are grouped into operations between `provisioned` rows, newest first; a manual rollback
 * hides itself and the update it undid; parsing stops at the second A/B update (only one A/B step
 * back exists), at an install, after failed health checks, at an unreadable row, at a row of a
 * Trident too old for rollback, and at an operation that recorded an error.
 */
import { DatastoreError } from './errors.ts';
import type { AbVolume, HostConfigurationDocument, HostStatus } from './host-status.ts';

export interface RollbackChainItem {
  kind: 'ab' | 'runtime';
  /** The Host Configuration the rollback restores. */
  spec: HostConfigurationDocument;
  /** The volume the host would run from afterwards. */
  abActiveVolume: AbVolume | undefined;
  installIndex: number;
}

type OperationKind =
  | 'unknown'
  | 'initial'
  | 'ab'
  | 'runtime'
  | 'ab-rollback'
  | 'runtime-rollback'
  | 'auto-rollback';

interface Operation {
  kind: OperationKind;
  /** The `provisioned` row before the operation: what a rollback returns to. */
  before: HostStatus | undefined;
  /** The row that says what the operation was (its `*-staged` row). */
  operation: HostStatus | undefined;
}

/** Trident supports rollback from 0.21.0 on (pre-release and build parts ignored). */
const MINIMUM_VERSION = [0, 21, 0] as const;
/** Build metadata our rows carry (`0.1.0+trident-ts`): our own numbering, always rollback-capable. */
const OUR_BUILD = /\+trident-ts$/u;

export function isRollbackCapableVersion(version: string | undefined): boolean {
  if (version === undefined) return false;
  if (OUR_BUILD.test(version)) return true;
  const m = /^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/u.exec(version);
  if (!m) return false;
  const parts = [Number(m[1]), Number(m[2]), Number(m[3])];
  for (let i = 0; i < 3; i++) {
    if (parts[i]! !== MINIMUM_VERSION[i]) return parts[i]! > MINIMUM_VERSION[i]!;
  }
  return true;
}

function canContinue(op: Operation): boolean {
  if (op.kind === 'unknown' || op.kind === 'initial' || op.kind === 'auto-rollback') return false;
  if (op.before !== undefined && !isRollbackCapableVersion(op.before.tridentVersion)) return false;
  if (op.operation === undefined) return false;
  if (!isRollbackCapableVersion(op.operation.tridentVersion)) return false;
  return op.operation.lastError === undefined;
}

/** A history Trident's rules call impossible. */
const invalidHistory = (what: string) =>
  new DatastoreError(
    'DATASTORE_INVALID_ROLLBACK_HISTORY',
    `the datastore history cannot be rolled back: ${what}`,
  );

/**
 * Whether a finished operation is offered as a rollback. Manual rollbacks push a filter that hides
 * the update they undid (and, for an A/B rollback, the runtime updates made on top of it).
 */
function keep(kind: OperationKind, filters: OperationKind[]): boolean {
  switch (kind) {
    case 'ab-rollback':
    case 'runtime-rollback':
      filters.unshift(kind);
      return false;
    case 'ab':
      if (filters[0] === 'ab-rollback') {
        filters.shift();
        return false;
      }
      if (filters[0] === 'runtime-rollback')
        throw invalidHistory('an A/B update was found inside a runtime rollback');
      return true;
    case 'runtime':
      if (filters[0] === 'ab-rollback') return false;
      if (filters[0] === 'runtime-rollback') {
        filters.shift();
        return false;
      }
      return true;
    default:
      if (filters.length > 0) throw invalidHistory('a non-update operation was found inside a rollback');
      return true;
  }
}

/**
 * The chain from a history given newest first, `undefined` for rows that could not be read.
 * Empty unless the newest row is `provisioned`.
 */
export function rollbackChain(history: ReadonlyArray<HostStatus | undefined>): RollbackChainItem[] {
  const [newest, ...older] = history;
  if (newest === undefined || newest.servicingState !== 'provisioned') return [];
  const operations: Operation[] = [];
  const filters: OperationKind[] = [];
  let abChanges = 0;
  let current: Operation = { kind: 'unknown', before: undefined, operation: undefined };
  parse: for (const status of older) {
    if (status === undefined) break;
    switch (status.servicingState) {
      case 'provisioned':
        // A repeated `provisioned` row (nothing happened in between) is not an operation.
        if (current.kind === 'unknown') break;
        if (keep(current.kind, filters)) {
          current.before = status;
          if (!canContinue(current)) break parse;
          operations.push(current);
        }
        current = { kind: 'unknown', before: undefined, operation: undefined };
        break;
      case 'clean-install-staged':
        current = { kind: 'initial', before: undefined, operation: status };
        break;
      case 'ab-update-staged':
        current.kind = 'ab';
        current.operation = status;
        abChanges += 1;
        if (abChanges >= 2) break parse;
        break;
      case 'runtime-update-staged':
        current.kind = 'runtime';
        current.operation = status;
        break;
      case 'manual-rollback-ab-staged':
        current.kind = 'ab-rollback';
        current.operation = status;
        break;
      case 'manual-rollback-runtime-staged':
        current.kind = 'runtime-rollback';
        current.operation = status;
        break;
      case 'ab-update-health-check-failed':
        break parse;
      default:
        break;
    }
  }
  return operations.map((op) => {
    const before = op.before as HostStatus;
    return {
      kind: op.kind === 'ab' ? 'ab' : 'runtime',
      spec: before.spec,
      abActiveVolume: before.abActiveVolume,
      installIndex: before.installIndex,
    };
  });
}
