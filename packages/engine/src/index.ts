export { discardPlan, plan, run } from './engine.ts';
export { EngineError, toTridentError } from './errors.ts';
export { hostOsArch } from './host-arch.ts';
export { imageFactsFromCosi } from './image-facts.ts';
export { createReclaimer } from './reclaim.ts';
export type * from './types.ts';
