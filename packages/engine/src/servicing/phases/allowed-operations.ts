/**
 * `--allowed-operations` (upstream `cli/mod.rs` `AllowedOperation`): which halves of a servicing
 * may run, `stage` (everything that writes the target) and `finalize` (what makes the next boot use
 * it). A comma list, default both. Parsed here once for every kind that stages and finalizes
 * (install, A/B update, rollback); callers get the booleans.
 */
import { EngineError } from '../../errors.ts';

export interface AllowedOperations {
  stage: boolean;
  finalize: boolean;
}

export const ALL_OPERATIONS: Readonly<AllowedOperations> = Object.freeze({ stage: true, finalize: true });

const NAMES = ['stage', 'finalize'] as const;

/** `stage,finalize`, `stage`, `finalize`, `` (neither); a repeated flag may come as a list. */
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
