/**
 * `trident rollback` (upstream `lib.rs` `rollback`, `engine/manual_rollback/mod.rs`; reference
 * servicing.md §9): return the host to the state before its last update, as the datastore's
 * rollback chain records it. Like commit it is not a `ServicingKind`: no image is streamed and
 * nothing is planned; it is a decision over the datastore plus a boot switch (A/B) or a live
 * re-apply (runtime).
 *
 * Stage records the target (`manual-rollback-ab-staged` / `manual-rollback-runtime-staged`, spec =
 * target, specOld = current) in one datastore row. Finalize then:
 * - A/B: points the next boot at the other volume (`boot-switch.ts`), records
 *   `manual-rollback-ab-finalized` and asks for a reboot; the commit after that boot checks the
 *   root and flips the active volume (no health checks, as upstream);
 * - runtime: re-applies the target's netplan, runs the runtime health checks, records
 *   `provisioned` with the target spec.
 *
 * Journal: the datastore state is the journal. Each finalize step can run again, so a finalize
 * interrupted after staging is completed by running `trident rollback` again (or with
 * `--allowed-operations finalize`); where upstream exits "no rollback available" in a staged state
 * when asked to stage again, this finishes the staged rollback instead (the staged target is the
 * only one the chain allows then).
 */
import {
  type Datastore,
  openDatastore,
  type RollbackChainItem,
  type ServicingState,
} from '@trident/datastore';
import {
  applyRuntimeConfiguration,
  cleanExtensionStaging,
  isOsConfigError,
  runHealthChecks,
  withExtensionPaths,
} from '@trident/os-config';
import { EngineError, toTridentError } from '../../errors.ts';
import { ALL_OPERATIONS, type AllowedOperations } from '../allowed-operations.ts';
import { recordedConfiguration } from '../commit/commit.ts';
import { type BootSwitch, type BootSwitchOptions, switchBootToOtherVolume } from './boot-switch.ts';
import { chainOf, datastoreFailure } from './chain.ts';
import { invalidExpectation, type RollbackRequest, selectRollback } from './selection.ts';

export type RollbackKind = RollbackChainItem['kind'];

export interface RollbackOptions extends BootSwitchOptions {
  /** The datastore file (resolved by the caller from `--datastore` or trident.conf). */
  datastorePath: string;
  /** Which rollback (`--runtime` / `--ab`; default the next one). Only read when staging. */
  request?: RollbackRequest | undefined;
  /** `--allowed-operations` (default stage and finalize). */
  operations?: AllowedOperations | undefined;
  /** The running OS's root for the runtime re-apply (default `/`). */
  rootDir?: string | undefined;
}

export type RollbackOutcome =
  /** Nothing was done: the state allows no rollback, or the chain is empty. */
  | { result: 'nothing-to-do'; state: ServicingState; reason: string }
  /** Staged only (`--allowed-operations stage`). */
  | { result: 'staged'; kind: RollbackKind; state: ServicingState }
  /** A/B rollback finalized: the other volume boots next; `needsReboot` unless `noTransition`. */
  | { result: 'finalized'; kind: 'ab'; needsReboot: boolean; boot: BootSwitch }
  /** Runtime rollback applied: the host is `provisioned` with the target spec. */
  | { result: 'finalized'; kind: 'runtime'; needsReboot: false; netplanApplied: boolean; checks: string[] };

/** Upstream: only these states allow a rollback; others exit Done without touching anything. */
const ROLLBACK_STATES: readonly ServicingState[] = [
  'provisioned',
  'manual-rollback-ab-staged',
  'manual-rollback-runtime-staged',
];

const stagedKind = (state: ServicingState): RollbackKind | undefined =>
  state === 'manual-rollback-ab-staged'
    ? 'ab'
    : state === 'manual-rollback-runtime-staged'
      ? 'runtime'
      : undefined;

const invalidState = (reason: string) =>
  new EngineError('INVALID_INPUT_ERROR', 'invalid-rollback-state', reason, { code: 'ENGINE_ROLLBACK_STATE' });

/** Stage: pick the target and record it. Undefined when the chain offers nothing. */
function stage(store: Datastore, options: RollbackOptions): RollbackKind | undefined {
  const status = store.current();
  const request = options.request ?? 'next';
  const already = stagedKind(status.servicingState);
  if (already !== undefined) {
    if ((request === 'runtime' && already !== 'runtime') || (request === 'ab' && already !== 'ab'))
      throw invalidExpectation(
        `a manual ${already === 'ab' ? 'A/B' : 'runtime'} rollback is already staged, but --${request} expects ${request === 'ab' ? 'an A/B' : 'a runtime'} one`,
      );
    options.log?.('info', `A manual ${already} rollback is already staged: finishing it`);
    return already;
  }
  // Upstream also refuses a provisioned host with a last error here, but the error was cleared when
  // the operation started (`recordOutcome`), as upstream's is: the check can never fire, so it is
  // left out. A failed operation still ends the chain (the datastore's chain rules).
  const item = selectRollback(chainOf(store), request);
  if (item === undefined) return undefined;
  // The target must at least parse now: it drives the finalize (boot entries, netplan).
  recordedConfiguration({ ...status, spec: item.spec }, options);
  options.log?.(
    'info',
    item.kind === 'ab'
      ? `Staging the rollback of the last A/B update (back to ${item.abActiveVolume ?? 'volume-a'}; needs a reboot)`
      : 'Staging the rollback of the last runtime update (no reboot)',
  );
  store.apply({ type: 'manual-rollback-staged', kind: item.kind, spec: item.spec });
  return item.kind;
}

async function finalize(store: Datastore, options: RollbackOptions): Promise<RollbackOutcome> {
  const status = store.current();
  const kind = stagedKind(status.servicingState);
  if (kind === undefined)
    throw invalidState(
      `cannot finalize a manual rollback in servicing state ${status.servicingState}: stage one first (--allowed-operations stage)`,
    );
  const config = recordedConfiguration(status, options);
  if (kind === 'ab') {
    const boot = await switchBootToOtherVolume(config, status, options);
    store.apply({ type: 'manual-rollback-ab-finalized' });
    const noTransition = config.internalParams.noTransition === true;
    if (noTransition) options.log?.('warn', "Not rebooting: internal parameter 'noTransition' is set");
    return { result: 'finalized', kind, needsReboot: !noTransition, boot };
  }
  // One home for a runtime Configure (os-config): the target's netplan written and applied live,
  // the images of the spec rolled back from taken out and the target's put back (downloaded again:
  // a finished runtime update kept no copy of what it removed).
  const applied = await applyRuntimeConfiguration(
    config,
    status.specOld === undefined
      ? undefined
      : recordedConfiguration({ ...status, spec: status.specOld }, options),
    {
      root: options.rootDir,
      signal: options.signal,
      onLog: (log) => options.log?.(log.level, `${log.source}: ${log.message}`),
    },
  ).catch((error: unknown) => {
    throw isOsConfigError(error)
      ? new EngineError(
          'SERVICING_ERROR',
          error.subkind,
          `re-applying the rollback target's runtime configuration failed: ${error.message}`,
          {
            cause: error,
            code: error.code,
          },
        )
      : error;
  });
  const netplanApplied = applied.actions.some((action) => action.includes('netplan'));
  for (const action of applied.actions) options.log?.('info', `Ran ${action}`);
  let checks: string[];
  try {
    checks = await runHealthChecks(config, {
      servicingType: 'runtime-update',
      signal: options.signal,
      onLog: (log) => options.log?.(log.level, `${log.source}: ${log.message}`),
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new EngineError(
      'HEALTH_CHECKS_ERROR',
      'health-checks-failed',
      'health checks failed after the runtime rollback',
      {
        cause: error,
      },
    );
  }
  // The recorded spec says where the target's images are now.
  store.update((s) => ({ ...s, spec: withExtensionPaths(s.spec ?? {}, applied.staged) }));
  await cleanExtensionStaging(options.rootDir ?? '/');
  store.apply({ type: 'manual-rollback-runtime-finalized' });
  return { result: 'finalized', kind, needsReboot: false, netplanApplied, checks };
}

async function execute(store: Datastore, options: RollbackOptions): Promise<RollbackOutcome> {
  const operations = options.operations ?? ALL_OPERATIONS;
  if (operations.stage) {
    const kind = stage(store, options);
    if (kind === undefined) {
      options.log?.('info', 'No rollback is available');
      return {
        result: 'nothing-to-do',
        state: store.current().servicingState,
        reason: 'no rollback is available',
      };
    }
    if (!operations.finalize) return { result: 'staged', kind, state: store.current().servicingState };
  }
  if (operations.finalize) return finalize(store, options);
  return { result: 'nothing-to-do', state: store.current().servicingState, reason: 'no operation allowed' };
}

/**
 * Rolls the host back (stage and/or finalize). Failures are recorded as `lastError` and thrown as
 * `EngineError`s with Trident's kind and subkind; a missing datastore is `host-not-provisioned`.
 */
export async function rollbackHost(options: RollbackOptions): Promise<RollbackOutcome> {
  let store: Datastore;
  try {
    store = openDatastore(options.datastorePath);
  } catch (error) {
    throw datastoreFailure(error, options.datastorePath);
  }
  try {
    const state = store.current().servicingState;
    if (!ROLLBACK_STATES.includes(state)) {
      options.log?.('info', `Cannot roll back from servicing state ${state}: nothing to do`);
      return { result: 'nothing-to-do', state, reason: `servicing state ${state} allows no rollback` };
    }
    return await store.recordOutcome(
      (s) => execute(s, options),
      (error) => toTridentError(error),
    );
  } catch (error) {
    throw datastoreFailure(error, options.datastorePath);
  } finally {
    store.close();
  }
}
