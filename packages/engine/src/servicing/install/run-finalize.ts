import type { Plan, RunResult } from '../../types.ts';
import { failedRun, type RunSession } from '../phases/run-session.ts';
import { recordFinalized, recordInNewRoot, registerBootEntry } from './host/finalize-host.ts';
import { mountNewRoot } from './host/new-root.ts';
import { step } from './host/step.ts';
import type { FinalizeContext } from './plan-finalize.ts';

/**
 * Finalize-only (reference servicing.md §1 E): re-mount the staged new root, give it its datastore
 * (the same rows an install in one run writes), unmount, create the UEFI boot entry, and record
 * `clean-install-finalized` in the servicing OS's datastore. The disks' contents are not touched.
 */
export async function runFinalize(
  plan: Plan,
  context: FinalizeContext,
  session: RunSession,
): Promise<RunResult> {
  const started = performance.now();
  try {
    session.log('info', `Finalizing the clean install staged in ${context.stagingDatastore}`);
    const newRoot = await step(session, 'mount-new-root', 'Mounting the staged new root', () =>
      mountNewRoot(context.config, plan.targets, context.layouts, {}, session.signal, session.log),
    );
    let released = false;
    try {
      await recordInNewRoot(context.config, newRoot.path, context.staged, session);
      await newRoot.release();
      released = true;
      await registerBootEntry(plan.targets, context.layouts, newRoot.disks, session);
    } finally {
      if (!released)
        await newRoot.release().catch((error: unknown) => session.log('warn', (error as Error).message));
    }
    await recordFinalized(context.stagingDatastore, session);
    return {
      status: 'success',
      ...(plan.source.metadataSha384 ? { imageHash: `sha384:${plan.source.metadataSha384}` } : {}),
      servicingKind: 'clean-install',
      rebootRequired: plan.targets.some((target) => target.kind === 'disk'),
      stats: { elapsed: (performance.now() - started) / 1000, bytesWritten: 0, compressedBytes: 0 },
    };
  } catch (error) {
    return failedRun(error, session);
  }
}
