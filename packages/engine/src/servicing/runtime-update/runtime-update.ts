/**
 * Runtime update (upstream `engine/runtime_update.rs`, reference servicing.md §10): what changes on
 * the running OS without a reboot — sysexts, confexts and netplan. Stage downloads the new images
 * into the live staging directory and records `runtime-update-staged`; finalize puts them in place,
 * refreshes the merged hierarchies, applies netplan, writes the images' paths into the recorded
 * spec, runs the `runtime-update` health checks and records `provisioned`. Any finalize failure
 * re-applies the previous configuration (auto-rollback) and records `provisioned` with the old spec.
 *
 * Like commit it is not a `ServicingKind`: it streams no OS image and lays out no disk; it is a short
 * decision over the datastore around os-config's runtime steps. `trident update` selects it for a
 * runtime-only change and calls `stageRuntimeUpdate` / `finalizeRuntimeUpdate`; `runtimeUpdate` is
 * the whole operation with its own entry checks.
 */
import { type Datastore, type HostStatus, lastErrorFromFailure } from '@trident/datastore';
import type { HostConfiguration } from '@trident/host-config';
import {
  applyRuntimeConfiguration,
  cleanExtensionStaging,
  isOsConfigError,
  type OsConfigLog,
  runHealthChecks,
  stageRuntimeExtensions,
  withExtensionPaths,
} from '@trident/os-config';
import type { OpenSourceOptions } from '@trident/remote-source';
import { EngineError, isAbort, toTridentError } from '../../errors.ts';
import { openHostDatastore } from '../host/open-datastore.ts';
import { parseRecordedConfiguration, parseRequestConfiguration } from '../host/parse-config.ts';
import { selectServicingType } from '../update/select-servicing.ts';

type Level = 'debug' | 'info' | 'warn' | 'error';

export interface RuntimeUpdateStepOptions {
  /** The running OS's root; `/` on a host (tests use a directory: see os-config's runtime.ts). */
  root?: string | undefined;
  /** How extension URLs are fetched (the CLI's remote options). */
  source?: OpenSourceOptions | undefined;
  log?: ((level: Level, message: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface RuntimeUpdateOptions extends RuntimeUpdateStepOptions {
  datastorePath: string;
  /** The new Host Configuration as the user wrote it. */
  hostConfiguration: { text: string; path?: string | undefined };
  /** Upstream's `--allowed-operations`; default both. */
  allowedOperations?: { stage: boolean; finalize: boolean } | undefined;
}

export type RuntimeUpdateOutcome =
  /** No runtime change (or stage not allowed): the datastore is left as it was. */
  | { result: 'nothing-to-do'; reason: string }
  /** Staged only (`--allowed-operations stage`): images downloaded, `runtime-update-staged`. */
  | { result: 'staged'; images: string[] }
  /** Applied: `provisioned` with the new spec. */
  | { result: 'updated'; placed: string[]; removed: string[]; actions: string[]; checks: string[] }
  /** Finalize failed and the previous configuration was re-applied: `provisioned`, old spec, lastError. */
  | { result: 'rolled-back'; error: EngineError; actions: string[] };

/** os-config's failures keep their subkind; the Host Configuration's own mistakes are invalid input. */
function engineError(error: unknown, context: string): EngineError {
  if (error instanceof EngineError) return error;
  if (isAbort(error))
    return new EngineError('SERVICING_ERROR', 'cancelled', `${context}: cancelled`, {
      cause: error,
      code: 'ENGINE_CANCELLED',
    });
  const message = `${context}: ${error instanceof Error ? error.message : String(error)}`;
  if (isOsConfigError(error)) {
    const input = error.subkind.startsWith('invalid-host-configuration');
    const health = error.code === 'OS_CONFIG_HEALTH_CHECKS_FAILED';
    return new EngineError(
      input ? 'INVALID_INPUT_ERROR' : health ? 'HEALTH_CHECKS_ERROR' : 'SERVICING_ERROR',
      error.subkind,
      message,
      { cause: error, code: error.code },
    );
  }
  return new EngineError('SERVICING_ERROR', 'runtime-update', message, { cause: error });
}

function onLog(options: RuntimeUpdateStepOptions): (log: OsConfigLog) => void {
  return (log) => options.log?.(log.level, `${log.source}: ${log.message}`);
}

/** A recorded spec, read by schema only (as commit reads it: it was validated when it was given). */
function recorded(
  spec: HostStatus['spec'] | undefined,
  what: string,
  log: RuntimeUpdateStepOptions['log'],
): HostConfiguration {
  return parseRecordedConfiguration(spec, {
    what: `${what} Host Configuration`,
    code: 'ENGINE_RUNTIME_UPDATE_BAD_SPEC',
    onFinding: (message) => log?.('debug', message),
  });
}

/**
 * Stage: every image of `config` downloaded into the live staging directory (or found on the host
 * by hash) and inspected; then `runtime-update-staged` with `spec` (specOld = the running spec).
 * The store must be `provisioned`. Nothing the running OS uses is touched.
 */
export async function stageRuntimeUpdate(
  store: Datastore,
  spec: Record<string, unknown>,
  config: HostConfiguration,
  options: RuntimeUpdateStepOptions = {},
): Promise<string[]> {
  const current = recorded(store.current().spec, 'running', options.log);
  let staged: Awaited<ReturnType<typeof stageRuntimeExtensions>>;
  try {
    staged = await stageRuntimeExtensions(config, current.os, { ...options, onLog: onLog(options) });
  } catch (error) {
    throw engineError(error, 'staging the runtime update');
  }
  store.apply({ type: 'runtime-update-staged', spec });
  return staged.map((s) => `${s.kind} ${s.id} → ${s.path}`);
}

/**
 * Finalize: applies the staged spec to the running OS (the store must be `runtime-update-staged`),
 * runs the runtime-update health checks and records `provisioned`. On any failure the previous
 * spec is applied again; the outcome is then `rolled-back` with the failure, also recorded as
 * `lastError`. Only a failed rollback throws (the host is left `runtime-update-staged`).
 */
export async function finalizeRuntimeUpdate(
  store: Datastore,
  options: RuntimeUpdateStepOptions = {},
): Promise<RuntimeUpdateOutcome> {
  const root = options.root ?? '/';
  const status = store.current();
  if (status.servicingState !== 'runtime-update-staged')
    throw new EngineError(
      'SERVICING_ERROR',
      'unexpected-servicing-state',
      `a runtime update finalizes from runtime-update-staged, the host is ${status.servicingState}`,
      { code: 'ENGINE_RUNTIME_UPDATE_NOT_STAGED' },
    );
  const current = recorded(status.specOld, 'previous', options.log);
  let target = recorded(status.spec, 'staged', options.log);
  let targetSpec = status.spec ?? {};
  const stepOptions = { root, source: options.source, signal: options.signal, onLog: onLog(options) };
  try {
    // Final paths first, so a rollback knows where every new image went.
    const staged = await stageRuntimeExtensions(target, current.os, stepOptions);
    targetSpec = withExtensionPaths(targetSpec, staged);
    target = recorded(targetSpec, 'staged', options.log);
    const applied = await applyRuntimeConfiguration(target, current, stepOptions);
    store.update((s) => ({ ...s, spec: targetSpec }));
    options.log?.('info', 'Running the runtime-update health checks');
    const checks = await runHealthChecks(target, {
      servicingType: 'runtime-update',
      signal: options.signal,
      onLog: onLog(options),
    });
    store.apply({ type: 'runtime-update-finalized' });
    await cleanExtensionStaging(root);
    return {
      result: 'updated',
      placed: applied.placed,
      removed: applied.removed,
      actions: applied.actions,
      checks,
    };
  } catch (error) {
    const failure = engineError(error, 'finalizing the runtime update');
    options.log?.('error', `${failure.tridentError.message}`);
    options.log?.('warn', 'Re-applying the previous Host Configuration (auto-rollback)');
    let restored: Awaited<ReturnType<typeof applyRuntimeConfiguration>>;
    try {
      // Without the caller's signal: a cancelled update still goes back to what ran before.
      restored = await applyRuntimeConfiguration(current, target, { ...stepOptions, signal: undefined });
    } catch (rollbackError) {
      throw new EngineError(
        'SERVICING_ERROR',
        'runtime-update-rollback',
        `the runtime update failed (${failure.message}) and re-applying the previous Host Configuration failed too: the host stays runtime-update-staged; fix the cause and run the update again`,
        { cause: rollbackError, code: 'ENGINE_RUNTIME_UPDATE_ROLLBACK_FAILED' },
      );
    }
    store.apply({ type: 'staged-update-abandoned' });
    // Upstream returns success here and records nothing; its documentation says the error shows in
    // `trident get last-error`, which is what an operator needs, so it is recorded.
    store.apply({ type: 'failed', error: lastErrorFromFailure(failure.tridentError) });
    await cleanExtensionStaging(root).catch(() => undefined);
    return { result: 'rolled-back', error: failure, actions: restored.actions };
  }
}

async function update(store: Datastore, options: RuntimeUpdateOptions): Promise<RuntimeUpdateOutcome> {
  const { config, spec } = parseRequestConfiguration(options.hostConfiguration);
  const allowed = options.allowedOperations ?? { stage: true, finalize: true };
  const state = store.current().servicingState;
  const staged =
    state === 'runtime-update-staged' ? recorded(store.current().spec, 'staged', options.log) : undefined;
  if (staged && selectServicingType(config, staged).type === 'none') {
    if (!allowed.finalize)
      return { result: 'nothing-to-do', reason: 'this runtime update is staged already' };
    options.log?.('info', 'This runtime update is staged: finalizing it');
    return finalizeRuntimeUpdate(store, options);
  }
  if (state === 'runtime-update-staged' || state === 'ab-update-staged') {
    options.log?.('warn', `Dropping the update staged before (${state}): a new one starts`);
    store.apply({ type: 'staged-update-abandoned' });
  } else if (state !== 'provisioned')
    throw new EngineError(
      'SERVICING_ERROR',
      'unexpected-servicing-state',
      `a runtime update needs a provisioned host; this one is ${state}${state.endsWith('-finalized') ? ' (its reboot and trident commit come first)' : ''}`,
      { code: 'ENGINE_RUNTIME_UPDATE_STATE' },
    );
  // The one servicing-type selection `trident update` uses too (upstream's subsystem votes).
  const selection = selectServicingType(config, recorded(store.current().spec, 'running', options.log));
  if (selection.type === 'ab-update')
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-host-configuration-dynamic',
      `this change needs an A/B update (${selection.reasons.join('; ')}); a runtime update applies os.sysexts, os.confexts and os.netplan`,
      { code: 'ENGINE_RUNTIME_UPDATE_NEEDS_AB_UPDATE' },
    );
  if (selection.type === 'none')
    return {
      result: 'nothing-to-do',
      reason:
        'no runtime change (storage, health, trident and internalParams changes apply to no running host)',
    };
  if (!allowed.stage)
    return { result: 'nothing-to-do', reason: 'the configuration changed and staging is not allowed' };
  options.log?.('info', `Runtime update: ${selection.reasons.join('; ')}`);
  const images = await stageRuntimeUpdate(store, spec, config, options);
  if (!allowed.finalize) return { result: 'staged', images };
  return finalizeRuntimeUpdate(store, options);
}

/**
 * The whole runtime update: entry checks (a datastore, a provisioned host, a change a runtime
 * update applies), stage, finalize. Failures other than an auto-rolled-back finalize are recorded
 * as `lastError` and thrown as `EngineError`s.
 */
export async function runtimeUpdate(options: RuntimeUpdateOptions): Promise<RuntimeUpdateOutcome> {
  const store = openHostDatastore(options.datastorePath, {
    why: 'a runtime update needs a provisioned host',
  });
  try {
    return await store.recordOutcome((s) => update(s, options), toTridentError);
  } finally {
    store.close();
  }
}
