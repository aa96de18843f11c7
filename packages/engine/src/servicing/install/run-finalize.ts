import type { Plan, RunResult } from '../../types.ts';
import { step } from '../host/configure-os.ts';
import { mountNewRoot } from '../host/new-root.ts';
import { failedRun, type RunSession } from '../phases/run-session.ts';
import { type AttachedDisks, attachDisks } from './host/attach-disks.ts';
import { recordFinalized, recordInNewRoot, registerBootEntry } from './host/finalize-host.ts';
import type { FinalizeContext } from './plan-finalize.ts';
import { stackedDevice } from './storage/stacked-devices.ts';

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
    let attached: AttachedDisks | undefined;
    const newRoot = await step(session, 'mount-new-root', 'Mounting the staged new root', async () => {
      attached = await attachDisks(
        context.config,
        plan.targets,
        context.layouts,
        session.signal,
        session.log,
      );
      const disks = attached;
      // Arrays and encrypted volumes were left assembled and open by the stage run of this boot.
      const deviceOf = (id: string): string => stackedDevice(context.config, id)?.path ?? disks.deviceOf(id);
      return mountNewRoot(context.config, { ...disks, deviceOf }, {}, session.signal, session.log);
    });
    let released = false;
    try {
      await recordInNewRoot(context.config, newRoot.path, context.staged, session);
      await newRoot.release();
      released = true;
      await registerBootEntry(plan.targets, context.layouts, attached!.disks, session);
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
