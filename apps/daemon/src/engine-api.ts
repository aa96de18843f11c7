/**
 * The slice of `@trident/engine` the daemon drives. The engine (and its native addon) is loaded on
 * the first servicing request, so a socket-activated daemon answers Version and validation calls
 * without paying for it.
 */
import type { EngineRequest, Plan, RunOptions, RunResult, TridentErrorInfo } from '@trident/engine';

export interface EngineApi {
  plan(request: EngineRequest, options: { signal: AbortSignal }): Promise<Plan>;
  run(plan: Plan, options: RunOptions): Promise<RunResult>;
  toTridentError(error: unknown): TridentErrorInfo;
}

let loading: Promise<EngineApi> | undefined;

export function loadEngine(): Promise<EngineApi> {
  loading ??= import('@trident/engine').then((engine) => ({
    plan: engine.plan,
    run: engine.run,
    toTridentError: engine.toTridentError,
  }));
  return loading;
}
