/**
 * Which rollback a request means (upstream `manual_rollback/utils.rs`: `ManualRollbackRequestKind`,
 * `get_requested_rollback`, `check_requested_rollback`; reference servicing.md §9):
 * - `next` (no flag): the newest item of the chain;
 * - `runtime` (`--runtime`): the newest item, which must undo a runtime update;
 * - `ab` (`--ab`): the newest item undoing an A/B update, skipping newer runtime items.
 * An expectation the chain cannot meet is `invalid-rollback-expectation`; an empty chain is no
 * rollback at all (not an error: upstream exits Done and `--check` prints `none`).
 */
import type { RollbackChainItem } from '@trident/datastore';
import { EngineError } from '../../errors.ts';

export type RollbackRequest = 'next' | 'runtime' | 'ab';

/** What `trident rollback --check` prints (CheckRollbackKind NO_ROLLBACK_AVAILABLE / AB / RUNTIME). */
export type RollbackCheck = 'none' | 'ab' | 'runtime';

export const invalidExpectation = (reason: string): EngineError =>
  new EngineError('INVALID_INPUT_ERROR', 'invalid-rollback-expectation', reason, {
    code: 'ENGINE_ROLLBACK_EXPECTATION',
  });

/** `--runtime` and `--ab` → the request; both at once is a contradiction (upstream `from_flags`). */
export function rollbackRequestFromFlags(flags: {
  runtime?: boolean | undefined;
  ab?: boolean | undefined;
}): RollbackRequest {
  if (flags.runtime && flags.ab)
    throw invalidExpectation(
      'conflicting expectations: a rollback cannot be expected to undo both a runtime update (--runtime) and an A/B update (--ab)',
    );
  if (flags.runtime) return 'runtime';
  if (flags.ab) return 'ab';
  return 'next';
}

/** The item `request` selects, undefined when the chain is empty. */
export function selectRollback(
  chain: readonly RollbackChainItem[],
  request: RollbackRequest,
): RollbackChainItem | undefined {
  const first = chain[0];
  if (first === undefined) return undefined;
  switch (request) {
    case 'next':
      return first;
    case 'runtime':
      if (first.kind !== 'runtime')
        throw invalidExpectation(
          'expected to undo a runtime update (--runtime), but the next rollback undoes an A/B update',
        );
      return first;
    case 'ab': {
      const ab = chain.find((item) => item.kind === 'ab');
      if (ab === undefined)
        throw invalidExpectation(
          `expected to undo an A/B update (--ab), but no A/B rollback is available (the chain has ${chain.length} runtime rollback${chain.length === 1 ? '' : 's'})`,
        );
      return ab;
    }
  }
}

export function checkOf(item: RollbackChainItem | undefined): RollbackCheck {
  return item === undefined ? 'none' : item.kind;
}
