/**
 * `--allowed-operations` (upstream `cli/mod.rs` `AllowedOperation`, `to_operations`): a comma list
 * of `stage` and `finalize`, default both. An empty list is allowed and means neither (upstream's
 * `num_args = 0..`): the command then only validates. Parsed here once; callers get the booleans.
 *
 * The "update" helper adds a shared parser for install/update; when it lands this module becomes a
 * re-export of it (same grammar, same error code).
 */
import { EngineError } from '../../errors.ts';

export interface AllowedOperations {
  stage: boolean;
  finalize: boolean;
}

export const ALL_OPERATIONS: Readonly<AllowedOperations> = Object.freeze({ stage: true, finalize: true });

const NAMES = ['stage', 'finalize'] as const;

/** `stage,finalize`, `stage`, `finalize`, `` (neither); repeated flags may be passed as a list. */
export function parseAllowedOperations(value: string | readonly string[] | undefined): AllowedOperations {
  if (value === undefined) return { ...ALL_OPERATIONS };
  const words = (typeof value === 'string' ? [value] : value)
    .flatMap((v) => v.split(','))
    .map((w) => w.trim())
    .filter((w) => w !== '');
  const result: AllowedOperations = { stage: false, finalize: false };
  for (const word of words) {
    if (!(NAMES as readonly string[]).includes(word))
      throw new EngineError(
        'INVALID_INPUT_ERROR',
        'invalid-allowed-operations',
        `--allowed-operations: '${word}' is not an operation (expected a comma list of ${NAMES.join(', ')})`,
        { code: 'ENGINE_ALLOWED_OPERATIONS_INVALID' },
      );
    result[word as (typeof NAMES)[number]] = true;
  }
  return result;
}

export function formatAllowedOperations(operations: AllowedOperations): string {
  return NAMES.filter((n) => operations[n]).join(',');
}
