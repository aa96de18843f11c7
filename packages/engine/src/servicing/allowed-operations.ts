/**
 * `--allowed-operations` (upstream `cli/mod.rs` `AllowedOperation`, used by `install`, `update` and
 * `rollback`): which halves of a servicing may run. `stage` writes the new OS (the inactive volume,
 * its OS configuration, the `*-staged` state); `finalize` points the next boot at it and records
 * the `*-finalized` state. Upstream's default is both; an explicit empty list allows neither, so the
 * command only checks what it would do. One parser for every command and the daemon, so the
 * spelling rules and the message stay the same everywhere.
 */
import { EngineError } from '../errors.ts';

export type AllowedOperation = 'stage' | 'finalize';

export const ALLOWED_OPERATIONS: readonly AllowedOperation[] = ['stage', 'finalize'];

export interface AllowedOperations {
  stage: boolean;
  finalize: boolean;
}

/** Both halves: upstream's default when the flag is absent. */
export const ALL_OPERATIONS: AllowedOperations = Object.freeze({ stage: true, finalize: true });

/**
 * Parses the flag's values: each may be a comma-separated list (`stage,finalize`, as upstream's
 * clap `value_delimiter = ','`), repeated flags add up, spaces around names are ignored. An
 * unknown name is INVALID_INPUT `invalid-allowed-operations`, naming it and the valid ones.
 * `undefined` (flag absent) allows both.
 */
export function parseAllowedOperations(values: string | readonly string[] | undefined): AllowedOperations {
  if (values === undefined) return { ...ALL_OPERATIONS };
  const list = typeof values === 'string' ? [values] : values;
  const allowed: AllowedOperations = { stage: false, finalize: false };
  for (const value of list) {
    for (const raw of value.split(',')) {
      const name = raw.trim().toLowerCase();
      if (name === '') continue;
      if (name !== 'stage' && name !== 'finalize')
        throw new EngineError(
          'INVALID_INPUT_ERROR',
          'invalid-allowed-operations',
          `unknown allowed operation '${raw.trim()}' in '${value}': use ${ALLOWED_OPERATIONS.join(', ')} (comma-separated)`,
          { code: 'ENGINE_BAD_ALLOWED_OPERATION' },
        );
      allowed[name] = true;
    }
  }
  return allowed;
}

/** `stage,finalize`, `stage`, `finalize` or `none`: for plans and logs. */
export function formatAllowedOperations(allowed: AllowedOperations): string {
  const names = ALLOWED_OPERATIONS.filter((name) => allowed[name]);
  return names.length === 0 ? 'none' : names.join(',');
}
