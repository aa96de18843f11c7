import { describe, expect, it } from 'vitest';
import { EngineError } from '../errors.ts';
import { formatAllowedOperations, parseAllowedOperations } from './allowed-operations.ts';

describe('parseAllowedOperations', () => {
  it('allows both halves when the flag is absent, as upstream defaults to stage,finalize', () => {
    expect(parseAllowedOperations(undefined)).toEqual({ stage: true, finalize: true });
  });

  it('reads comma-separated lists and repeated flags, ignoring case and spaces', () => {
    expect(parseAllowedOperations('stage')).toEqual({ stage: true, finalize: false });
    expect(parseAllowedOperations(['finalize'])).toEqual({ stage: false, finalize: true });
    expect(parseAllowedOperations(' Stage , finalize ')).toEqual({ stage: true, finalize: true });
    expect(parseAllowedOperations(['stage', 'finalize'])).toEqual({ stage: true, finalize: true });
  });

  it('an explicit empty list allows neither (the command only checks)', () => {
    expect(parseAllowedOperations('')).toEqual({ stage: false, finalize: false });
    expect(formatAllowedOperations(parseAllowedOperations(''))).toBe('none');
  });

  it('refuses an unknown name by name, with the valid ones', () => {
    let caught: unknown;
    try {
      parseAllowedOperations('stage,reboot');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(EngineError);
    const info = (caught as EngineError).tridentError;
    expect(info.kind).toBe('INVALID_INPUT_ERROR');
    expect(info.subkind).toBe('invalid-allowed-operations');
    expect(info.code).toBe('ENGINE_BAD_ALLOWED_OPERATION');
    expect(info.errorMessage).toContain("'reboot'");
    expect(info.errorMessage).toContain('stage, finalize');
  });

  it('formats for plans and logs', () => {
    expect(formatAllowedOperations({ stage: true, finalize: true })).toBe('stage,finalize');
    expect(formatAllowedOperations({ stage: false, finalize: true })).toBe('finalize');
  });
});
