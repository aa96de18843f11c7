/**
 * Trident's datastore: an SQLite file with one append-only table, `hoststatus`, one row per change
 * of the Host Status (YAML in `contents`); the current status is the row with the highest `id`
 * (reference servicing.md §6; upstream `crates/trident/src/datastore.rs`). Same file location,
 * table, columns and row format as Trident, so Trident reads what we write and the other way round.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { DatastoreError } from './errors.ts';
import {
  checkHostStatus,
  type HostStatus,
  hostStatusDocument,
  notProvisioned,
  parseHostStatus,
  serializeHostStatus,
} from './host-status.ts';
import { lastErrorFromFailure, type ServicingFailure } from './last-error.ts';
import { loadSqlite } from './sqlite.ts';
import { applyEvent, type ServicingEvent } from './transitions.ts';

/** Trident's default (`DatastorePath=` in `/etc/trident/trident.conf` overrides it). */
export const DEFAULT_DATASTORE_PATH = '/var/lib/trident/datastore.sqlite';

/** The datastore of the OS installed under `root` (e.g. the new root during an install). */
export function datastorePathIn(root: string, datastorePath: string = DEFAULT_DATASTORE_PATH): string {
  return join(root, datastorePath);
}

/** Written to `tridentVersion` when the caller names no version: this package's, marked as ours. */
export const DEFAULT_AGENT_VERSION = '0.1.0+trident-ts';

// Trident's DDL spells the timestamp default `DEFALUT`, which SQLite reads as part of the type
// name, so its rows have no timestamp. Ours has the default, and our inserts set it anyway; the
// columns are the same, so either side can create the table.
const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS hoststatus (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  timestamp DATETIME DEFAULT CURRENT_TIMESTAMP,
  contents TEXT NOT NULL
)`;

export interface OpenDatastoreOptions {
  /**
   * Create the file, its directory and the table when missing. Default false: a missing file is
   * `DATASTORE_NOT_FOUND` (a reader must never leave an empty datastore behind, as Trident's
   * `get` does).
   */
  create?: boolean | undefined;
  /** Open read-only: nothing can be written through this handle (readers such as `trident get`). */
  readOnly?: boolean | undefined;
  /** Stamped into `tridentVersion` of every row written (default `DEFAULT_AGENT_VERSION`). */
  agentVersion?: string | undefined;
  /** How long to wait for another process's write lock, in milliseconds (default 5000). */
  busyTimeoutMs?: number | undefined;
}

/** One row: the Host Status as recorded, or why it could not be read. */
export interface HostStatusRecord {
  id: number;
  /** When it was written (ISO 8601, or SQLite's `YYYY-MM-DD HH:MM:SS` UTC); Trident's rows have none. */
  timestamp: string | undefined;
  status: HostStatus | undefined;
  /** Set instead of `status` when the row is not a readable Host Status. */
  problem: DatastoreError | undefined;
}

interface Row {
  id: number;
  timestamp: string | null;
  contents: string;
}

const same = (a: HostStatus, b: HostStatus): boolean =>
  JSON.stringify(hostStatusDocument(a)) === JSON.stringify(hostStatusDocument(b));

export class Datastore {
  readonly path: string;
  readonly readOnly: boolean;
  private db: DatabaseSync | undefined;
  private readonly agentVersion: string;

  private constructor(path: string, db: DatabaseSync, options: OpenDatastoreOptions) {
    this.path = path;
    this.db = db;
    this.readOnly = options.readOnly === true;
    this.agentVersion = options.agentVersion ?? DEFAULT_AGENT_VERSION;
  }

  /**
   * Opens the datastore at `path` (`:memory:` for one in RAM, as Trident keeps it on an
   * installer). Throws `DATASTORE_NOT_FOUND`, `DATASTORE_OPEN_FAILED` or
   * `DATASTORE_NOT_A_DATASTORE`.
   */
  static open(path: string, options: OpenDatastoreOptions = {}): Datastore {
    const { DatabaseSync } = loadSqlite();
    const inMemory = path === ':memory:';
    if (!inMemory && !existsSync(path)) {
      if (!options.create)
        throw new DatastoreError(
          'DATASTORE_NOT_FOUND',
          `no datastore at ${path}: this host was not provisioned by Trident, or its datastore lives elsewhere`,
          { path },
        );
      try {
        mkdirSync(dirname(path), { recursive: true });
      } catch (error) {
        throw new DatastoreError(
          'DATASTORE_OPEN_FAILED',
          `cannot create the datastore directory ${dirname(path)}: ${(error as Error).message}`,
          { path, cause: error },
        );
      }
    }
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(path, { readOnly: options.readOnly === true && !inMemory });
      db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
      const table = db
        .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'hoststatus'`)
        .get();
      if (table === undefined) {
        if (!options.create || options.readOnly)
          throw new DatastoreError(
            'DATASTORE_NOT_A_DATASTORE',
            `${path} is an SQLite database without Trident's hoststatus table`,
            { path },
          );
        db.exec(CREATE_TABLE);
      }
    } catch (error) {
      db?.close();
      if (error instanceof DatastoreError) throw error;
      throw new DatastoreError(
        'DATASTORE_OPEN_FAILED',
        `cannot open the datastore ${path}: ${(error as Error).message}`,
        { path, cause: error },
      );
    }
    return new Datastore(path, db, options);
  }

  private handle(): DatabaseSync {
    if (this.db === undefined)
      throw new DatastoreError('DATASTORE_CLOSED', `the datastore ${this.path} is closed`, {
        path: this.path,
      });
    return this.db;
  }

  private record(row: Row): HostStatusRecord {
    try {
      const status = parseHostStatus(row.contents, { path: this.path, rowId: row.id });
      return { id: row.id, timestamp: row.timestamp ?? undefined, status, problem: undefined };
    } catch (error) {
      if (!(error instanceof DatastoreError)) throw error;
      return { id: row.id, timestamp: row.timestamp ?? undefined, status: undefined, problem: error };
    }
  }

  /** The newest row, or undefined when nothing was recorded yet. */
  latest(): HostStatusRecord | undefined {
    const row = this.handle()
      .prepare('SELECT id, timestamp, contents FROM hoststatus ORDER BY id DESC LIMIT 1')
      .get() as Row | undefined;
    return row === undefined ? undefined : this.record(row);
  }

  /**
   * The current Host Status. With no row yet it is Trident's default: `not-provisioned`, marked as
   * living on the management OS (Trident's "temporary" datastore). A newest row that cannot be read
   * throws `DATASTORE_INVALID_ROW`.
   */
  current(): HostStatus {
    const latest = this.latest();
    if (latest === undefined) return { ...notProvisioned(), isManagementOs: true };
    if (latest.problem) throw latest.problem;
    return latest.status as HostStatus;
  }

  /** True when this is not (yet) the datastore of an installed OS (Trident's `is_persistent`). */
  isTemporary(): boolean {
    const latest = this.latest();
    return latest === undefined || latest.status?.isManagementOs === true;
  }

  /** Every row, newest first (the order the rollback chain is read in). */
  history(): HostStatusRecord[] {
    const rows = this.handle()
      .prepare('SELECT id, timestamp, contents FROM hoststatus ORDER BY id DESC')
      .all() as unknown as Row[];
    return rows.map((row) => this.record(row));
  }

  /** Appends `status` as the new current row (stamped with this agent's version). */
  write(status: HostStatus): HostStatusRecord {
    const checked = checkHostStatus(status, { path: this.path });
    const stamped: HostStatus = { ...checked, tridentVersion: this.agentVersion };
    const timestamp = new Date().toISOString();
    try {
      const result = this.handle()
        .prepare('INSERT INTO hoststatus (timestamp, contents) VALUES (?, ?)')
        .run(timestamp, serializeHostStatus(stamped));
      return { id: Number(result.lastInsertRowid), timestamp, status: stamped, problem: undefined };
    } catch (error) {
      if (error instanceof DatastoreError) throw error;
      throw new DatastoreError(
        'DATASTORE_WRITE_FAILED',
        `cannot write to the datastore ${this.path}${this.readOnly ? ' (opened read-only)' : ''}: ${(error as Error).message}`,
        { path: this.path, cause: error },
      );
    }
  }

  /**
   * Changes the current status through `change` (given a copy) and appends it, unless nothing
   * changed (Trident writes no row then either). Returns the status now current.
   */
  update(change: (status: HostStatus) => HostStatus | undefined): HostStatus {
    const before = this.current();
    const draft = structuredClone(before);
    const after = change(draft) ?? draft;
    if (same(before, after)) return before;
    return this.write(after).status as HostStatus;
  }

  /** Applies a servicing event (see `transitions.ts`) and records the result. */
  apply(event: ServicingEvent): HostStatus {
    return this.update((status) => applyEvent(status, event));
  }

  /**
   * Runs one servicing operation as Trident does (`execute_and_record_error`): the previous error
   * is cleared first, except after failed health checks, whose error is kept because it explains
   * the rollback; a failure is recorded as `lastError` (converted by `toFailure`) and rethrown.
   */
  async recordOutcome<T>(
    operation: (store: Datastore) => Promise<T>,
    toFailure: (error: unknown) => ServicingFailure,
  ): Promise<T> {
    const preserved =
      this.current().servicingState === 'ab-update-health-check-failed'
        ? this.current().lastError
        : undefined;
    this.apply({ type: 'error-cleared' });
    try {
      return await operation(this);
    } catch (error) {
      try {
        this.apply({ type: 'failed', error: preserved ?? lastErrorFromFailure(toFailure(error)) });
      } catch {
        // The operation's own failure is the one to report; a datastore that cannot take the
        // record (closed, read-only, disk full) must not hide it.
      }
      throw error;
    }
  }

  /**
   * Copies the current status into a new datastore at `path` as its first row, no longer marked
   * as the management OS's (Trident's `persist`: the installer's status moves into the installed
   * OS). Returns the new datastore, open for writing; this one stays open.
   */
  persistTo(path: string): Datastore {
    const target = Datastore.open(path, { create: true, agentVersion: this.agentVersion });
    try {
      target.write({ ...this.current(), isManagementOs: undefined });
    } catch (error) {
      target.close();
      throw error;
    }
    return target;
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }
}

/** `Datastore.open`, as a function. */
export function openDatastore(path: string, options: OpenDatastoreOptions = {}): Datastore {
  return Datastore.open(path, options);
}
