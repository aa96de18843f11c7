import type { Plan, RunResult } from '../types.ts';
import type { RunSession } from './phases/run-session.ts';

/** A plan's kind and context, bound together at plan time so nothing later needs to know either. */
export interface HeldPlan {
  logTarget: string;
  run(session: RunSession): Promise<RunResult>;
  discard(): Promise<void>;
}

/**
 * The one place plans keep what they hold between `plan()` and `run()` or `discardPlan()`: the open
 * image and the laid-out tables, kept off the plan so it prints cleanly. Taking an entry removes it,
 * so a plan runs at most once; a plan this process did not make (or already ran) has no entry, and
 * the engine refuses it rather than planning again behind the caller's back.
 */
const held = new WeakMap<Plan, HeldPlan>();

export function holdPlan(plan: Plan, entry: HeldPlan): void {
  held.set(plan, entry);
}

export function takePlan(plan: Plan): HeldPlan | undefined {
  const entry = held.get(plan);
  held.delete(plan);
  return entry;
}
