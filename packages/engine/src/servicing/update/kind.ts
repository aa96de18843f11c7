import type { ServicingKind } from '../kind.ts';
import { planUpdate, type UpdateContext } from './plan-update.ts';
import type { UpdateRequest } from './request.ts';
import { runUpdate } from './run-update.ts';

/**
 * update: an A/B update of a provisioned host (upstream `trident update`): the new COSI streamed
 * into the inactive volume while the running OS is untouched, the OS configuration applied in the
 * new root, a boot entry for it, then (finalize) one trial boot of it through the one-shot
 * variable. `trident commit` at that boot makes it the default or records the rollback.
 */
export const update: ServicingKind<UpdateRequest, UpdateContext> = {
  kind: 'update',
  logTarget: 'trident::engine::update',
  plan: planUpdate,
  run: runUpdate,
  discard: async (context) => {
    await context.reader?.close();
  },
};
