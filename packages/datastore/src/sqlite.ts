/**
 * Loads `node:sqlite` (built into Node since 22.5, without a flag since 22.13; no native addon
 * of ours). Node still marks it experimental and prints an `ExperimentalWarning` on stderr when
 * it is first loaded; a library never prints (STYLE), and `trident get` output must stay clean, so
 * exactly that one warning is dropped while the module loads. Every other warning passes.
 */
import { createRequire } from 'node:module';
import { DatastoreError } from './errors.ts';

export type Sqlite = typeof import('node:sqlite');

let loaded: Sqlite | undefined;

function isSqliteNotice(warning: unknown, rest: unknown[]): boolean {
  const text = warning instanceof Error ? warning.message : String(warning);
  const first = rest[0];
  const type =
    warning instanceof Error
      ? warning.name
      : typeof first === 'string'
        ? first
        : typeof first === 'object' && first !== null
          ? (first as { type?: unknown }).type
          : undefined;
  return type === 'ExperimentalWarning' && /SQLite/u.test(text);
}

export function loadSqlite(): Sqlite {
  if (loaded !== undefined) return loaded;
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (isSqliteNotice(warning, rest)) return;
    (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    loaded = createRequire(import.meta.url)('node:sqlite') as Sqlite;
    return loaded;
  } catch (error) {
    throw new DatastoreError(
      'DATASTORE_SQLITE_UNAVAILABLE',
      `this Node.js (${process.version}) has no node:sqlite; the datastore needs Node 22.13 or later (24 recommended)`,
      { cause: error },
    );
  } finally {
    process.emitWarning = emitWarning;
  }
}
