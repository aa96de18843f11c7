/**
 * The rollback chain read from a datastore file, for `trident get rollback-chain|rollback-target`,
 * `trident rollback --check` and the gRPC RollbackService. The parsing rules live in
 * `@trident/datastore` (`rollbackChain`); this module opens the file read-only, maps the
 * datastore's failures to Trident's error kinds, and gives the YAML shapes upstream prints.
 */
import {
  type Datastore,
  type HostConfigurationDocument,
  isDatastoreError,
  openDatastore,
  rollbackChain as parseRollbackChain,
  type RollbackChainItem,
} from '@trident/datastore';
import { EngineError } from '../../errors.ts';
import {
  checkOf,
  invalidExpectation,
  type RollbackCheck,
  type RollbackRequest,
  selectRollback,
} from './selection.ts';

export interface RollbackQueryOptions {
  /** The datastore file (resolved by the caller from `--datastore` or trident.conf). */
  datastorePath: string;
}

/** A datastore failure in Trident's terms (`host-not-provisioned` for a missing file). */
export function datastoreFailure(error: unknown, datastorePath: string): EngineError {
  if (error instanceof EngineError) return error;
  if (isDatastoreError(error))
    return new EngineError(
      error.tridentKind,
      error.subkind,
      error.code === 'DATASTORE_NOT_FOUND'
        ? `no datastore at ${datastorePath}: this host was not provisioned by Trident (or --datastore names another file)`
        : error.message,
      { cause: error },
    );
  return new EngineError('SERVICING_ERROR', 'datastore', `reading ${datastorePath} failed`, { cause: error });
}

/**
 * The chain of an open datastore. A newest row that cannot be read is upstream's
 * `invalid-rollback-expectation` ("first host status was not parsed correctly"), not an empty chain.
 */
export function chainOf(store: Datastore): RollbackChainItem[] {
  const history = store.history();
  const newest = history[0];
  if (newest !== undefined && newest.status === undefined)
    throw invalidExpectation(
      `the newest Host Status (row ${newest.id} of ${store.path}) cannot be read: ${newest.problem?.message ?? 'unknown problem'}`,
    );
  try {
    return parseRollbackChain(history.map((record) => record.status));
  } catch (error) {
    throw datastoreFailure(error, store.path);
  }
}

function withDatastore<T>(datastorePath: string, read: (store: Datastore) => T): T {
  let store: Datastore;
  try {
    store = openDatastore(datastorePath, { readOnly: true });
  } catch (error) {
    throw datastoreFailure(error, datastorePath);
  }
  try {
    return read(store);
  } catch (error) {
    throw datastoreFailure(error, datastorePath);
  } finally {
    store.close();
  }
}

/** The chain, newest first. */
export function rollbackChain(options: RollbackQueryOptions): RollbackChainItem[] {
  return withDatastore(options.datastorePath, chainOf);
}

/** The Host Configuration the next rollback restores, `{}` when there is none (upstream's output). */
export function rollbackTarget(options: RollbackQueryOptions): HostConfigurationDocument {
  return rollbackChain(options)[0]?.spec ?? {};
}

/** `trident rollback --check`: what the request would do; throws when its expectation fails. */
export function checkRollback(options: RollbackQueryOptions & { request?: RollbackRequest }): RollbackCheck {
  return checkOf(selectRollback(rollbackChain(options), options.request ?? 'next'));
}

/** The chain as upstream serialises it (camelCase keys, `abActiveVolume: null` when unset). */
export function rollbackChainDocument(chain: readonly RollbackChainItem[]): Record<string, unknown>[] {
  return chain.map((item) => ({
    kind: item.kind,
    spec: item.spec,
    abActiveVolume: item.abActiveVolume ?? null,
    installIndex: item.installIndex,
  }));
}
