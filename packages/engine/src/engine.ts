import { EngineError } from './errors.ts';
import { planInstall, takeInstallContext } from './servicing/install/plan-install.ts';
import { runInstall } from './servicing/install/run-install.ts';
import { planStreamDisk, type StreamDiskContext } from './servicing/stream-disk/plan-stream-disk.ts';
import { runStreamDisk } from './servicing/stream-disk/run-stream-disk.ts';
import type { EngineEvent, EngineRequest, Plan, RunOptions, RunResult } from './types.ts';

/**
 * Plans keep their open image here, so `run(plan)` right after `plan()` does not read the
 * metadata again; a plan without one (built elsewhere) is planned afresh and must agree.
 */
const contexts = new WeakMap<Plan, StreamDiskContext>();

/** Works out what a request will do, writing nothing. Throws an EngineError (Trident kind/subkind). */
export async function plan(request: EngineRequest, options: { signal?: AbortSignal } = {}): Promise<Plan> {
  if (request.kind === 'stream-disk') {
    const { plan: result, context } = await planStreamDisk(request, options);
    contexts.set(result, context);
    return result;
  }
  return planInstall(request, options);
}

/**
 * Carries out a plan. Servicing failures do not throw: they come back as `{ status: 'failure',
 * error }` (and a `completed` event), as Trident reports them inside the stream.
 */
export async function run(planned: Plan, options: RunOptions = {}): Promise<RunResult> {
  const emit = (event: EngineEvent): void => options.onEvent?.(event);
  emit({ type: 'started', time: Date.now(), plan: planned });
  for (const warning of planned.warnings)
    emit({ type: 'log', time: Date.now(), level: 'warn', message: warning, target: 'trident::engine' });
  let result: RunResult;
  if (planned.request.kind === 'stream-disk') {
    let context = contexts.get(planned);
    if (!context) {
      const fresh = await planStreamDisk(planned.request, options);
      context = fresh.context;
      if (fresh.plan.source.metadataSha384 !== planned.source.metadataSha384) {
        await context.reader.close();
        result = {
          status: 'failure',
          rebootRequired: false,
          error: new EngineError(
            'INVALID_INPUT_ERROR',
            'load-cosi',
            `The image at '${planned.source.url}' changed since it was planned`,
          ).tridentError,
        };
        emit({ type: 'completed', time: Date.now(), result });
        return result;
      }
    }
    contexts.delete(planned);
    result = await runStreamDisk(planned, context, options);
  } else {
    result = await runInstall(planned, options);
  }
  emit({ type: 'completed', time: Date.now(), result });
  return result;
}

/** Releases what a plan holds open when it will not be run (e.g. after `--dry-run`). */
export async function discardPlan(planned: Plan): Promise<void> {
  const context = contexts.get(planned);
  contexts.delete(planned);
  await context?.reader.close();
  await takeInstallContext(planned)?.reader?.close();
}
