import type { Plan, RunResult } from '../types.ts';
import type { RunSession } from './phases/run-session.ts';

/**
 * One kind of servicing (stream-disk, install, ...): the seam every kind plugs into. The engine
 * dispatches on the request's `kind` through the registry and never knows a kind's internals; what
 * kinds share lives in `phases/`.
 *
 * `plan` works everything out without writing: it returns the printable plan (what `--dry-run`
 * shows) and a context holding what `run` needs beyond it (the open image, laid-out tables).
 * `run` carries the plan out and reports failures as a RunResult. `discard` releases the context;
 * the engine calls it exactly once per plan, after `run` or instead of it.
 */
export interface ServicingKind<Request extends { kind: string }, Context> {
  /** The request `kind` this entry serves; also its registry key. */
  readonly kind: Request['kind'];
  /** Target of the kind's log events, after Trident's module paths. */
  readonly logTarget: string;
  plan(request: Request, options: { signal?: AbortSignal | undefined }): Promise<KindPlan<Request, Context>>;
  run(plan: Plan & { request: Request }, context: Context, session: RunSession): Promise<RunResult>;
  discard(context: Context): Promise<void>;
}

export interface KindPlan<Request, Context> {
  plan: Plan & { request: Request };
  context: Context;
}

/** The request type a kind serves. */
export type RequestOf<Kind> = Kind extends ServicingKind<infer Request, infer _Context> ? Request : never;
