import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Datastore, DEFAULT_DATASTORE_PATH, datastorePathIn, openDatastore } from './datastore.ts';
import { isDatastoreError } from './errors.ts';
import { failureFromLastError } from './last-error.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'datastore-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Python's own sqlite3 module stands in for Trident's Rust `sqlite` crate: a second, independent
 * SQLite client running Trident's exact statements (DDL with its `DEFALUT` typo, its INSERT, its
 * SELECT of the newest row).
 */
function python(script: string, ...args: string[]): string {
  return execFileSync('python3', ['-c', script, ...args], { encoding: 'utf8' });
}

const UPSTREAM_CREATE = `
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("""CREATE TABLE IF NOT EXISTS hoststatus (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                timestamp DATETIME DEFALUT CURRENT_TIMESTAMP,
                contents TEXT NOT NULL
            )""")
for contents in sys.argv[2:]:
    db.execute("INSERT INTO hoststatus (contents) VALUES (?)", (contents,))
db.commit()
`;

const UPSTREAM_READ_NEWEST = `
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("SELECT contents FROM hoststatus ORDER BY id DESC LIMIT 1").fetchone()[0], end="")
`;

// A provisioned host's row as serde_yaml writes it, with an error recorded by a variant that
// carries data (a YAML tag), in our own words.
const UPSTREAM_ROW = `spec:
  image:
    url: http://10.0.0.1/base.cosi
    sha384: ignored
  storage:
    disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions: []
servicingState: provisioned
lastError:
  message: Failed to write to datastore
  error: !datastore
    inner: write-to-datastore
  category: servicing
  location: crates/trident/src/datastore.rs:171
  cause: disk I/O error
partitionPaths:
  esp: /dev/sda1
  root-a: /dev/sda2
abActiveVolume: volume-a
diskUuids:
  os: 5e1f53cc-9d02-4c3b-a2d8-9f0ab6ff3bd4
installIndex: 0
tridentVersion: 0.21.0
`;

describe('Datastore', () => {
  it('refuses a missing file without creating one, and creates it (with its directory) on request', () => {
    const path = join(dir, 'var/lib/trident/datastore.sqlite');
    expect(() => openDatastore(path)).toThrow(expect.objectContaining({ code: 'DATASTORE_NOT_FOUND', path }));
    expect(existsSync(path)).toBe(false);
    try {
      openDatastore(path);
    } catch (error) {
      expect(isDatastoreError(error, 'DATASTORE_NOT_FOUND') && error.subkind).toBe('host-not-provisioned');
    }
    const store = openDatastore(path, { create: true });
    expect(existsSync(path)).toBe(true);
    // No row yet: Trident's default, a temporary (management OS) status.
    expect(store.current()).toEqual({
      spec: {},
      servicingState: 'not-provisioned',
      installIndex: 0,
      isManagementOs: true,
    });
    expect(store.isTemporary()).toBe(true);
    expect(store.history()).toEqual([]);
    store.close();
  });

  it('appends one row per change, keeps the history, and skips unchanged writes', () => {
    const path = join(dir, 'ds.sqlite');
    const store = openDatastore(path, { create: true, agentVersion: '1.2.3+trident-ts' });
    store.apply({ type: 'clean-install-started' });
    // clean-install-started on a fresh store changes nothing but the defaults: no row for it.
    expect(store.history()).toHaveLength(0);
    store.apply({
      type: 'clean-install-staged',
      spec: { image: { url: 'file:///os.cosi', sha384: 'ignored' } },
      partitionPaths: { root: '/dev/vda2' },
      diskUuids: { os: '0f7a0b4c-2c1b-4a57-9a5e-6c1a2a5d3e11' },
    });
    store.apply({ type: 'clean-install-finalized' });
    store.update((s) => s); // no change, no row
    const history = store.history();
    expect(history.map((r) => [r.id, r.status?.servicingState])).toEqual([
      [2, 'clean-install-finalized'],
      [1, 'clean-install-staged'],
    ]);
    expect(history[0]?.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/u);
    expect(history[0]?.status?.tridentVersion).toBe('1.2.3+trident-ts');
    store.close();
    expect(() => store.current()).toThrow(expect.objectContaining({ code: 'DATASTORE_CLOSED' }));

    const reopened = openDatastore(path, { readOnly: true });
    expect(reopened.current()).toMatchObject({
      servicingState: 'clean-install-finalized',
      partitionPaths: { root: '/dev/vda2' },
    });
    expect(() => reopened.apply({ type: 'error-cleared' })).not.toThrow(); // nothing to clear: no write
    expect(() => reopened.apply({ type: 'clean-install-started' })).toThrow(
      expect.objectContaining({
        code: 'DATASTORE_WRITE_FAILED',
        message: expect.stringContaining('read-only'),
      }),
    );
    reopened.close();
  });

  it('reads a datastore Trident wrote (its DDL, rows without timestamps, tagged enum values)', () => {
    const path = join(dir, 'upstream.sqlite');
    const older = UPSTREAM_ROW.replace('servicingState: provisioned', 'servicingState: ab-update-finalized');
    python(UPSTREAM_CREATE, path, older, UPSTREAM_ROW);
    const store = openDatastore(path, { readOnly: true });
    const current = store.current();
    expect(current).toMatchObject({
      servicingState: 'provisioned',
      abActiveVolume: 'volume-a',
      partitionPaths: { esp: '/dev/sda1', 'root-a': '/dev/sda2' },
      diskUuids: { os: '5e1f53cc-9d02-4c3b-a2d8-9f0ab6ff3bd4' },
      tridentVersion: '0.21.0',
      lastError: { error: { datastore: { inner: 'write-to-datastore' } }, category: 'servicing' },
    });
    expect(failureFromLastError(current.lastError!)).toMatchObject({
      kind: 'SERVICING_ERROR',
      subkind: 'datastore',
      errorMessage: 'Failed to write to datastore',
    });
    expect(store.history().map((r) => [r.id, r.timestamp, r.status?.servicingState])).toEqual([
      [2, undefined, 'provisioned'],
      [1, undefined, 'ab-update-finalized'],
    ]);
    store.close();
  });

  it('writes rows Trident reads: its table, its newest-row query, its field names', () => {
    const path = join(dir, 'ours.sqlite');
    const store = openDatastore(path, { create: true });
    store.write({
      spec: { image: { url: 'file:///os.cosi', sha384: 'ignored' } },
      servicingState: 'provisioned',
      abActiveVolume: 'volume-b',
      installIndex: 1,
      partitionPaths: {},
    });
    store.close();
    const contents = python(UPSTREAM_READ_NEWEST, path);
    expect(contents).toBe(`spec:
  image:
    url: file:///os.cosi
    sha384: ignored
servicingState: provisioned
abActiveVolume: volume-b
installIndex: 1
tridentVersion: 0.1.0+trident-ts
`);
    // Trident's own insert into a table we created works too (same columns).
    python(UPSTREAM_CREATE, path, UPSTREAM_ROW);
    expect(openDatastore(path).current().servicingState).toBe('provisioned');
  });

  it('upgrades rows of an old Trident (osImage, os.network, verityFilesystems)', () => {
    const path = join(dir, 'old.sqlite');
    python(
      UPSTREAM_CREATE,
      path,
      `spec:
  osImage:
    type: cosi
    url: http://10.0.0.1/old.cosi
  os:
    network:
      version: 2
  storage:
    filesystems:
    - deviceId: boot
      mountPoint: /boot
      source:
        type: image
    verityFilesystems:
    - name: root
      dataDeviceId: root-data
      hashDeviceId: root-hash
      mountPoint: /
servicingState: provisioned
installIndex: 0
`,
    );
    const spec = openDatastore(path).current().spec;
    expect(spec).toEqual({
      image: { url: 'http://10.0.0.1/old.cosi', sha384: 'ignored' },
      os: { netplan: { version: 2 } },
      storage: {
        filesystems: [
          { deviceId: 'boot', mountPoint: '/boot' },
          { deviceId: 'verity0', mountPoint: '/' },
        ],
        verity: [{ name: 'root', id: 'verity0', dataDeviceId: 'root-data', hashDeviceId: 'root-hash' }],
      },
    });
  });

  it('names the file and row of a row that is not a Host Status; the rest of the history stays readable', () => {
    const path = join(dir, 'bad.sqlite');
    python(
      UPSTREAM_CREATE,
      path,
      UPSTREAM_ROW,
      'servicingState: exploded\ninstallIndex: 0\n',
      'a: [unclosed',
    );
    const store = openDatastore(path);
    expect(() => store.current()).toThrow(
      expect.objectContaining({
        code: 'DATASTORE_INVALID_ROW',
        rowId: 3,
        message: expect.stringContaining(`row 3 of ${path}: not YAML`),
      }),
    );
    const [third, second, first] = store.history();
    expect(third?.problem?.code).toBe('DATASTORE_INVALID_ROW');
    expect(second?.problem?.message).toContain(`row 2 of ${path}: servicingState "exploded" is not one of`);
    expect(first?.status?.servicingState).toBe('provisioned');
    store.close();
  });

  it('refuses files that are not a datastore, and unwritable places, with coded errors', () => {
    const text = join(dir, 'text.sqlite');
    writeFileSync(
      text,
      'this is not a database, just text that is long enough to have a header\n'.repeat(20),
    );
    expect(() => openDatastore(text)).toThrow(
      expect.objectContaining({ code: 'DATASTORE_OPEN_FAILED', path: text }),
    );
    const other = join(dir, 'other.sqlite');
    python(
      'import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute("CREATE TABLE t (x)"); db.commit()',
      other,
    );
    expect(() => openDatastore(other)).toThrow(
      expect.objectContaining({ code: 'DATASTORE_NOT_A_DATASTORE' }),
    );
    if (process.getuid?.() !== 0) {
      const locked = join(dir, 'locked');
      writeFileSync(locked, '');
      chmodSync(locked, 0o400);
      expect(() => openDatastore(join(locked, 'x/ds.sqlite'), { create: true })).toThrow(
        expect.objectContaining({ code: 'DATASTORE_OPEN_FAILED' }),
      );
    } else {
      // root can write anywhere; a path under a regular file still cannot be a directory.
      const file = join(dir, 'plain');
      writeFileSync(file, '');
      expect(() => openDatastore(join(file, 'x/ds.sqlite'), { create: true })).toThrow(
        expect.objectContaining({ code: 'DATASTORE_OPEN_FAILED' }),
      );
    }
  });

  it('refuses a Host Status it would write wrongly', () => {
    const store = openDatastore(':memory:', { create: true });
    expect(() => store.write({ spec: {}, servicingState: 'installed' as never, installIndex: 0 })).toThrow(
      expect.objectContaining({ code: 'DATASTORE_INVALID_HOST_STATUS' }),
    );
    expect(() => store.write({ spec: {}, servicingState: 'provisioned', installIndex: -1 })).toThrow(
      expect.objectContaining({ code: 'DATASTORE_INVALID_HOST_STATUS' }),
    );
    expect(store.history()).toEqual([]);
    store.close();
  });

  it('records an operation as Trident does: error cleared first, failure recorded and rethrown', async () => {
    const store = openDatastore(':memory:', { create: true });
    const failure = {
      kind: 'SERVICING_ERROR' as const,
      subkind: 'deploy-images',
      errorMessage: 'Failed to deploy images',
      message: 'Trident failed due to a servicing error\n\nContext:\n  0: Failed to deploy images',
      code: 'ZSTD_HASH_MISMATCH',
    };
    await expect(
      store.recordOutcome(
        async (s) => {
          s.apply({ type: 'clean-install-started' });
          throw new Error('boom');
        },
        () => failure,
      ),
    ).rejects.toThrow('boom');
    expect(store.current().lastError).toEqual({
      message: 'Failed to deploy images',
      error: 'deploy-images',
      category: 'servicing',
      location: 'trident-ts',
      cause: failure.message,
      code: 'ZSTD_HASH_MISMATCH',
    });
    expect(failureFromLastError(store.current().lastError!)).toEqual(failure);
    // The next operation starts by clearing it.
    await store.recordOutcome(
      async () => 'ok',
      () => failure,
    );
    expect(store.current().lastError).toBeUndefined();
    store.close();
  });

  it('keeps the health-check error through the recovery that follows it', async () => {
    const store = openDatastore(':memory:', { create: true });
    store.write({
      spec: { a: 1 },
      specOld: { a: 0 },
      servicingState: 'ab-update-finalized',
      installIndex: 0,
    });
    const healthError = {
      message: 'checks failed',
      error: 'health-checks-failed',
      category: 'health-checks',
    };
    store.apply({ type: 'health-checks-failed', error: healthError });
    await expect(
      store.recordOutcome(
        async (s) => {
          s.apply({ type: 'rolled-back-after-health-checks' });
          throw new Error('ab-update-health-check-commit-check');
        },
        () => ({ kind: 'HEALTH_CHECKS_ERROR', subkind: 'other', errorMessage: 'other', message: 'other' }),
      ),
    ).rejects.toThrow();
    expect(store.current()).toMatchObject({
      servicingState: 'provisioned',
      spec: { a: 0 },
      lastError: healthError,
    });
    store.close();
  });

  it('moves the installer status into the installed OS (persist), under the root given', () => {
    const installer = openDatastore(':memory:', { create: true });
    installer.apply({ type: 'clean-install-staged', spec: { os: { hostname: 'h' } } });
    installer.apply({ type: 'clean-install-finalized' });
    expect(installer.isTemporary()).toBe(true);
    const target = installer.persistTo(datastorePathIn(join(dir, 'newroot')));
    expect(target.path).toBe(join(dir, 'newroot', DEFAULT_DATASTORE_PATH));
    expect(target.isTemporary()).toBe(false);
    expect(target.current()).toMatchObject({
      servicingState: 'clean-install-finalized',
      spec: { os: { hostname: 'h' } },
    });
    expect(target.current().isManagementOs).toBeUndefined();
    expect(target.history()).toHaveLength(1);
    target.close();
    installer.close();
    expect(Datastore.open(join(dir, 'newroot', DEFAULT_DATASTORE_PATH)).current().servicingState).toBe(
      'clean-install-finalized',
    );
  });

  it('loads node:sqlite without printing its experimental-feature warning', () => {
    const run = spawnSync(
      process.execPath,
      [
        '--conditions=@trident/source',
        '--input-type=module',
        '-e',
        `import { openDatastore } from ${JSON.stringify(new URL('./index.ts', import.meta.url).pathname)};
         openDatastore(':memory:', { create: true }).close();
         process.emitWarning('still here', 'ExperimentalWarning');`,
      ],
      { encoding: 'utf8' },
    );
    expect(run.status).toBe(0);
    // Other warnings still reach stderr; only the SQLite notice is dropped.
    expect(run.stderr).toContain('ExperimentalWarning: still here');
    expect(run.stderr).not.toContain('SQLite');
  });
});
