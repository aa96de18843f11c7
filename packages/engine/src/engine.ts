import { EngineError } from './errors.ts';
import type { ServicingKind } from './servicing/kind.ts';
import { failedRun, startSession } from './servicing/phases/run-session.ts';
import { holdPlan, takePlan } from './servicing/plan-store.ts';
import { type EngineRequest, servicingKindOf } from './servicing/registry.ts';
import type { EngineEvent, Plan, RunOptions, RunResult } from './types.ts';

/** Works out what a request will do, writing nothing. Throws an EngineError (Trident kind/subkind). */
export async function plan(request: EngineRequest, options: { signal?: AbortSignal } = {}): Promise<Plan> {
  return planWith(await servicingKindOf(request), request, options);
}

async function planWith<Request extends EngineRequest, Context>(
  kind: ServicingKind<Request, Context>,
  request: Request,
  options: { signal?: AbortSignal },
): Promise<Plan> {
  const { plan: planned, context } = await kind.plan(request, options);
  holdPlan(planned, {
    logTarget: kind.logTarget,
    run: (session) => kind.run(planned, context, session),
    discard: () => kind.discard(context),
  });
  return planned;
}

/**
 * Carries out a plan made by `plan()` in this process, once. Servicing failures do not throw: they
 * come back as `{ status: 'failure', error }` (and a `completed` event), as Trident reports them
 * inside the stream; so does a plan this process did not make or already ran or discarded
 * (`ENGINE_PLAN_NOT_HELD`).
 */
export async function run(planned: Plan, options: RunOptions = {}): Promise<RunResult> {
  const emit = (event: EngineEvent): void => options.onEvent?.(event);
  const held = takePlan(planned);
  if (!held) {
    const result: RunResult = {
      status: 'failure',
      rebootRequired: false,
      error: new EngineError(
        'INTERNAL_ERROR',
        'unknown',
        `This ${planned.request.kind} plan was not made by plan() in this process, or was already run or discarded; plan the request again`,
        { code: 'ENGINE_PLAN_NOT_HELD' },
      ).tridentError,
    };
    emit({ type: 'completed', time: Date.now(), result });
    return result;
  }
  emit({ type: 'started', time: Date.now(), plan: planned });
  for (const warning of planned.warnings)
    emit({ type: 'log', time: Date.now(), level: 'warn', message: warning, target: 'trident::engine' });
  const { session, dispose } = startSession(options, held.logTarget);
  let result: RunResult;
  try {
    result = await held.run(session);
  } catch (error) {
    // Kinds report failures as results; this keeps `run`'s promise for one that throws anyway.
    result = failedRun(error, session);
  } finally {
    dispose();
    await held.discard().catch(() => undefined);
  }
  emit({ type: 'completed', time: Date.now(), result });
  return result;
}

/** Releases what a plan holds open when it will not be run (e.g. after `--dry-run`). */
export async function discardPlan(planned: Plan): Promise<void> {
  await takePlan(planned)?.discard();
}
