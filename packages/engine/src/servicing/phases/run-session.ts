import { EngineError, isAbort, wrapStep } from '../../errors.ts';
import type { EngineEvent, LogLevel, RunOptions, RunResult } from '../../types.ts';

export type Log = (level: LogLevel, message: string) => void;

/**
 * What a servicing kind's `run` is given: one signal for the whole run, the way to report events,
 * and the caller's memory hook. The engine creates it, so every kind reports the same way.
 */
export interface RunSession {
  /** Aborted by the caller's signal, or by `cancel` (the first failing image stops the others). */
  readonly signal: AbortSignal;
  /** The caller's own signal: whether a failure was an interruption is judged by this one. */
  readonly callerSignal: AbortSignal | undefined;
  cancel(reason: unknown): void;
  emit(event: EngineEvent): void;
  /** Log events under the kind's target (`trident::engine::<kind>`). */
  log: Log;
  reclaimMemory: (() => void) | undefined;
}

/** Starts a session for one run; `dispose` detaches it from the caller's signal afterwards. */
export function startSession(
  options: RunOptions,
  logTarget: string,
): { session: RunSession; dispose: () => void } {
  const inner = new AbortController();
  const outer = options.signal;
  const forward = (): void => inner.abort(outer?.reason);
  outer?.addEventListener('abort', forward, { once: true });
  if (outer?.aborted) forward();
  const emit = (event: EngineEvent): void => options.onEvent?.(event);
  return {
    session: {
      signal: inner.signal,
      callerSignal: outer,
      cancel: (reason) => inner.abort(reason),
      emit,
      log: (level, message) => emit({ type: 'log', time: Date.now(), level, message, target: logTarget }),
      reclaimMemory: options.reclaimMemory,
    },
    dispose: () => outer?.removeEventListener('abort', forward),
  };
}

/** A failure as RunResult: cancellation is SERVICING_ERROR `cancelled`, anything unnamed `deploy-images`. */
export function failedRun(error: unknown, session: Pick<RunSession, 'callerSignal' | 'log'>): RunResult {
  const signal = session.callerSignal;
  const failed =
    error instanceof EngineError
      ? error
      : isAbort(error) || signal?.aborted
        ? wrapStep('SERVICING_ERROR', 'cancelled', 'the run was interrupted', signal?.reason ?? error)
        : wrapStep('SERVICING_ERROR', 'deploy-images', 'the run failed', error);
  session.log('error', failed.message);
  return { status: 'failure', rebootRequired: false, error: failed.tridentError };
}
