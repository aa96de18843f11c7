/**
 * The slice of `@trident/engine` the daemon drives. The engine (and its native addon) is loaded on
 * the first servicing request, so a socket-activated daemon answers Version and validation calls
 * without paying for it.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type {
  CheckRootOutcome,
  CommitOptions,
  CommitOutcome,
  EngineRequest,
  Plan,
  RollbackCheck,
  RollbackOptions,
  RollbackOutcome,
  RollbackQueryOptions,
  RollbackRequest,
  RunOptions,
  RunResult,
  TridentErrorInfo,
} from '@trident/engine';

export interface EngineApi {
  plan(request: EngineRequest, options: { signal: AbortSignal }): Promise<Plan>;
  run(plan: Plan, options: RunOptions): Promise<RunResult>;
  toTridentError(error: unknown): TridentErrorInfo;
  createReclaimer?: () => (() => void) | undefined;
  /** `trident commit` (CommitService.Commit). */
  commitHost(options: CommitOptions): Promise<CommitOutcome>;
  /** The booted-volume test alone (v1preview CommitService.CheckRoot). */
  checkBootedRoot(options: CommitOptions): Promise<CheckRootOutcome>;
  /** Manual rollback (v1preview RollbackService). */
  rollbackHost(options: RollbackOptions): Promise<RollbackOutcome>;
  checkRollback(options: RollbackQueryOptions & { request?: RollbackRequest }): RollbackCheck;
  /** The chain, newest first, each item as upstream serialises it. */
  rollbackChainDocuments(options: RollbackQueryOptions): Record<string, unknown>[];
}

let loading: Promise<EngineApi> | undefined;

/**
 * Imports the engine by its real path. Under Node's type stripping (running from sources), a
 * dynamic import issued after the server started has been seen to keep the workspace symlink
 * (`node_modules/@trident/engine`) in the URL, which Node refuses to strip; resolving the real
 * path first makes the import independent of that.
 */
function engineUrl(): string {
  const resolved = import.meta.resolve('@trident/engine');
  return resolved.startsWith('file:') ? pathToFileURL(realpathSync(fileURLToPath(resolved))).href : resolved;
}

export function loadEngine(): Promise<EngineApi> {
  loading ??= (import(engineUrl()) as Promise<typeof import('@trident/engine')>).then((engine) => ({
    plan: engine.plan,
    run: engine.run,
    toTridentError: engine.toTridentError,
    createReclaimer: engine.createReclaimer,
    commitHost: engine.commitHost,
    checkBootedRoot: engine.checkBootedRoot,
    rollbackHost: engine.rollbackHost,
    checkRollback: engine.checkRollback,
    rollbackChainDocuments: (options) => engine.rollbackChainDocument(engine.rollbackChain(options)),
  }));
  return loading;
}
