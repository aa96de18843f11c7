export { discardPlan, plan, run } from './engine.ts';
export { EngineError, toTridentError } from './errors.ts';
export { hostOsArch } from './host-arch.ts';
export { imageFactsFromCosi } from './image-facts.ts';
export { checkBootedRoot, commitHost, rollbackHost } from './load-on-call.ts';
export { createReclaimer } from './reclaim.ts';
export {
  ALL_OPERATIONS,
  type AllowedOperation,
  type AllowedOperations,
  formatAllowedOperations,
  parseAllowedOperations,
} from './servicing/allowed-operations.ts';
export type { CheckRootOutcome } from './servicing/commit/check-root.ts';
export type { CommitOptions, CommitOutcome } from './servicing/commit/commit.ts';
export type { InstallRequest } from './servicing/install/request.ts';
export type { EngineRequest } from './servicing/registry.ts';
export type { BootSwitch } from './servicing/rollback/boot-switch.ts';
export {
  chainOf,
  checkRollback,
  type RollbackQueryOptions,
  rollbackChain,
  rollbackChainDocument,
  rollbackTarget,
} from './servicing/rollback/chain.ts';
export type {
  RollbackKind,
  RollbackOptions,
  RollbackOutcome,
} from './servicing/rollback/rollback.ts';
export {
  type RollbackCheck,
  type RollbackRequest,
  rollbackRequestFromFlags,
  selectRollback,
} from './servicing/rollback/selection.ts';
// Runtime updates run through `plan`/`run` (the update kind); their functions stay out of the index,
// whose every import a stream-disk pays for at start (they bring os-config and host-config).
export type {
  RuntimeUpdateOptions,
  RuntimeUpdateOutcome,
  RuntimeUpdateStepOptions,
} from './servicing/runtime-update/runtime-update.ts';
export type { StreamDiskRequest } from './servicing/stream-disk/request.ts';
export type { UpdateRequest } from './servicing/update/request.ts';
export type * from './types.ts';
