/**
 * Every failure of the datastore is a `DatastoreError` with a stable `code`, the datastore's path
 * and, for a bad row, its id. Callers match on `code`; `tridentKind` and `subkind` are what Trident
 * calls the failure, for the engine and the daemon to put into a TridentError unchanged.
 */
export type DatastoreErrorCode =
  /** No datastore file at the path (nothing was ever installed or recorded there). */
  | 'DATASTORE_NOT_FOUND'
  /** SQLite could not open or create the file (permissions, not a database, directory missing). */
  | 'DATASTORE_OPEN_FAILED'
  /** The file is an SQLite database without Trident's `hoststatus` table. */
  | 'DATASTORE_NOT_A_DATASTORE'
  /** A row's `contents` is not a Host Status document (bad YAML, wrong field types). */
  | 'DATASTORE_INVALID_ROW'
  /** A Host Status handed to `write` is not valid (unknown state, bad volume, non-object spec). */
  | 'DATASTORE_INVALID_HOST_STATUS'
  /** Appending a row failed (read-only datastore, disk full, locked for too long). */
  | 'DATASTORE_WRITE_FAILED'
  /** The datastore was closed before this call. */
  | 'DATASTORE_CLOSED'
  /** A servicing event that the current servicing state does not allow (Trident's state machine). */
  | 'DATASTORE_INVALID_TRANSITION'
  /** The history has an order Trident's rollback rules call impossible. */
  | 'DATASTORE_INVALID_ROLLBACK_HISTORY'
  /** This Node.js has no `node:sqlite` (before 22.13 it needs `--experimental-sqlite`). */
  | 'DATASTORE_SQLITE_UNAVAILABLE';

/**
 * Trident's category and subkind for each code. Trident nests its datastore failures
 * (`ServicingError::Datastore { inner }`), which surface as subkind `datastore`; a missing datastore
 * where one is needed is its `host-not-provisioned` (invalid input), a forbidden state change its
 * internal `unexpected-servicing-state`.
 */
const TRIDENT: Record<DatastoreErrorCode, { kind: TridentKindName; subkind: string }> = {
  DATASTORE_NOT_FOUND: { kind: 'INVALID_INPUT_ERROR', subkind: 'host-not-provisioned' },
  DATASTORE_OPEN_FAILED: { kind: 'SERVICING_ERROR', subkind: 'datastore' },
  DATASTORE_NOT_A_DATASTORE: { kind: 'SERVICING_ERROR', subkind: 'datastore' },
  DATASTORE_INVALID_ROW: { kind: 'SERVICING_ERROR', subkind: 'datastore' },
  DATASTORE_INVALID_HOST_STATUS: { kind: 'INTERNAL_ERROR', subkind: 'serialize-host-status' },
  DATASTORE_WRITE_FAILED: { kind: 'SERVICING_ERROR', subkind: 'datastore' },
  DATASTORE_CLOSED: { kind: 'SERVICING_ERROR', subkind: 'datastore' },
  DATASTORE_INVALID_TRANSITION: { kind: 'INTERNAL_ERROR', subkind: 'unexpected-servicing-state' },
  DATASTORE_INVALID_ROLLBACK_HISTORY: {
    kind: 'INVALID_INPUT_ERROR',
    subkind: 'invalid-rollback-expectation',
  },
  DATASTORE_SQLITE_UNAVAILABLE: {
    kind: 'EXECUTION_ENVIRONMENT_MISCONFIGURATION_ERROR',
    subkind: 'datastore',
  },
};

/** Trident's error categories (`TridentErrorKind` names), as the engine and the daemon spell them. */
export type TridentKindName =
  | 'EXECUTION_ENVIRONMENT_MISCONFIGURATION_ERROR'
  | 'HEALTH_CHECKS_ERROR'
  | 'INITIALIZATION_ERROR'
  | 'INTERNAL_ERROR'
  | 'INVALID_INPUT_ERROR'
  | 'SERVICING_ERROR'
  | 'UNSUPPORTED_CONFIGURATION_ERROR';

export interface DatastoreErrorDetails {
  path?: string | undefined;
  /** The `hoststatus.id` of the row at fault. */
  rowId?: number | undefined;
  cause?: unknown;
}

export class DatastoreError extends Error {
  override readonly name = 'DatastoreError';
  readonly code: DatastoreErrorCode;
  readonly path: string | undefined;
  readonly rowId: number | undefined;

  constructor(code: DatastoreErrorCode, message: string, details: DatastoreErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.path = details.path;
    this.rowId = details.rowId;
  }

  /** Trident's category for this failure. */
  get tridentKind(): TridentKindName {
    return TRIDENT[this.code].kind;
  }

  /** Trident's kebab-case subkind for this failure. */
  get subkind(): string {
    return TRIDENT[this.code].subkind;
  }
}

export function isDatastoreError(value: unknown, code?: DatastoreErrorCode): value is DatastoreError {
  return value instanceof DatastoreError && (code === undefined || value.code === code);
}
