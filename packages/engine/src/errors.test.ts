import { describe, expect, it } from 'vitest';
import { EngineError, toTridentError, wrapStep } from './errors.ts';
import { ProgressTracker } from './servicing/phases/progress.ts';
import type { EngineEvent } from './types.ts';

describe('Trident error mapping', () => {
  it('wraps a coded failure with the step subkind, keeping its code and the cause chain', () => {
    const cause = Object.assign(new Error('hash abc does not match def'), { code: 'ZSTD_HASH_MISMATCH' });
    const info = wrapStep(
      'SERVICING_ERROR',
      'deploy-images',
      "Failed to write image 'images/root.raw.zst'",
      cause,
    ).tridentError;
    expect(info).toMatchObject({
      kind: 'SERVICING_ERROR',
      subkind: 'deploy-images',
      code: 'ZSTD_HASH_MISMATCH',
    });
    expect(info.message).toBe(
      "Trident failed due to a servicing error\n\nContext:\n  0: Failed to write image 'images/root.raw.zst': hash abc does not match def\n  1: [ZSTD_HASH_MISMATCH] hash abc does not match def",
    );
  });

  it('turns aborts into SERVICING_ERROR cancelled and unknown failures into INTERNAL_ERROR unknown', () => {
    const abort = Object.assign(new Error('stop'), { name: 'AbortError' });
    expect(wrapStep('SERVICING_ERROR', 'deploy-images', 'x', abort).tridentError).toMatchObject({
      subkind: 'cancelled',
      code: 'ENGINE_CANCELLED',
    });
    expect(toTridentError(new TypeError('boom'))).toMatchObject({
      kind: 'INTERNAL_ERROR',
      subkind: 'unknown',
    });
  });

  it('keeps an inner EngineError instead of re-wrapping it', () => {
    const inner = new EngineError('INVALID_INPUT_ERROR', 'load-cosi', 'bad');
    expect(wrapStep('SERVICING_ERROR', 'deploy-images', 'outer', inner)).toBe(inner);
  });
});

describe('ProgressTracker', () => {
  it('reports bytes, total, a positive rate and an ETA, and always flushes the final state', async () => {
    const events: EngineEvent[] = [];
    const tracker = new ProgressTracker({
      phase: 'write',
      total: 100,
      image: 'partition-1',
      emit: (e) => events.push(e),
      intervalMs: 0,
    });
    tracker.add(10);
    await new Promise((resolve) => setTimeout(resolve, 20));
    tracker.add(40);
    tracker.flush();
    const last = events.at(-1) as Extract<EngineEvent, { type: 'progress' }>;
    expect(last).toMatchObject({
      type: 'progress',
      phase: 'write',
      image: 'partition-1',
      bytes: 50,
      total: 100,
    });
    expect(last.rate).toBeGreaterThan(0);
    expect(last.eta).toBeGreaterThan(0);
  });
});
