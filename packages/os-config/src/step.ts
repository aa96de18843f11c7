/**
 * What every step gets, and the one place that turns a step into progress events: `started`, then
 * `completed` (with what it did), `skipped` (with why) or `failed` (with the error).
 */
import { type RunToolOptions, runTool, type ToolResult } from '@trident/exec';
import type {
  Config,
  OsConfigLog,
  OsConfigStepEvent,
  OsConfigStepName,
  ServicingType,
  StorageLayout,
} from './types.ts';

export interface StepContext {
  /** The new root, mounted, as a host path. */
  root: string;
  config: Config;
  layout: StorageLayout;
  servicingType: ServicingType;
  log: (level: OsConfigLog['level'], source: string, message: string) => void;
  signal: AbortSignal | undefined;
  /** Runs a program of the new root, chrooted into it. */
  inRoot: (command: string, args: readonly string[], options?: RunToolOptions) => Promise<ToolResult>;
}

/** A step's outcome: what it did, or why it did nothing. */
export type StepOutcome = { done: string } | { skipped: string };

export const done = (what: string): StepOutcome => ({ done: what });
export const skipped = (why: string): StepOutcome => ({ skipped: why });

export function createStepContext(
  root: string,
  config: Config,
  layout: StorageLayout,
  servicingType: ServicingType,
  onLog: ((log: OsConfigLog) => void) | undefined,
  signal: AbortSignal | undefined,
): StepContext {
  return {
    root,
    config,
    layout,
    servicingType,
    signal,
    log: (level, source, message) => onLog?.({ level, source, message }),
    inRoot: (command, args, options = {}) => runTool(command, args, { signal, ...options, root }),
  };
}

export async function runStep(
  step: OsConfigStepName,
  phase: OsConfigStepEvent['phase'],
  ctx: StepContext,
  onStep: ((event: OsConfigStepEvent) => void) | undefined,
  body: (ctx: StepContext) => Promise<StepOutcome>,
): Promise<void> {
  onStep?.({ step, phase, status: 'started' });
  let outcome: StepOutcome;
  try {
    outcome = await body(ctx);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    onStep?.({ step, phase, status: 'failed', detail: message });
    throw error;
  }
  if ('skipped' in outcome) {
    ctx.log('debug', step, `skipped: ${outcome.skipped}`);
    onStep?.({ step, phase, status: 'skipped', detail: outcome.skipped });
  } else {
    ctx.log('info', step, outcome.done);
    onStep?.({ step, phase, status: 'completed', detail: outcome.done });
  }
}
