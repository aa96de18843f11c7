import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatastore } from '@trident/datastore';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { createTestClients, grpc, type TestClients, unary } from './test-support/grpc-test-client.ts';
import { startTestDaemon, type TestDaemon } from './test-support/test-daemon.ts';

const V1 = { image: { url: 'http://10.0.0.1/v1.cosi', sha384: 'ignored' }, os: { hostname: 'edge-1' } };
const V2 = { image: { url: 'http://10.0.0.1/v2.cosi', sha384: 'ignored' }, os: { hostname: 'edge-2' } };
const V1_YAML = 'image:\n  url: http://10.0.0.1/v1.cosi\n  sha384: ignored\nos:\n  hostname: edge-1\n';
const V2_YAML = 'image:\n  url: http://10.0.0.1/v2.cosi\n  sha384: ignored\nos:\n  hostname: edge-2\n';

describe('StatusService from the datastore, over the socket', () => {
  let t: TestDaemon;
  let clients: TestClients;
  let path: string;
  beforeAll(async () => {
    t = await startTestDaemon();
    clients = createTestClients(t.socketPath);
    path = join(t.dir, 'datastore.sqlite');
  });
  beforeEach(() => {
    rmSync(path, { force: true });
  });
  afterAll(async () => {
    clients.close();
    expect(await t.close()).toBe(0);
  });

  const call = (method: string) => unary(clients.status, method, {});
  const refusal = (method: string) =>
    call(method).then(
      () => expect.unreachable(`${method} answered`),
      (error: grpc.ServiceError) => ({ code: grpc.status[error.code], details: error.details }),
    );

  /** Writes the datastore as a host's servicing would, through the real package, in steps. */
  function host(...steps: Array<(store: ReturnType<typeof openDatastore>) => void>) {
    const store = openDatastore(path, { create: true });
    for (const step of steps) step(store);
    store.close();
  }
  const installed = (store: ReturnType<typeof openDatastore>) => {
    store.apply({ type: 'clean-install-staged', spec: V1, partitionPaths: { 'root-a': '/dev/sda2' } });
    store.apply({ type: 'clean-install-finalized' });
    store.apply({ type: 'committed' });
  };

  test('no datastore: not provisioned, said with FAILED_PRECONDITION and the path', async () => {
    expect(await call('GetServicingState')).toEqual({ state: 'NOT_PROVISIONED' });
    expect(await call('GetActiveVolume')).toEqual({ active_volume: 'NO_VOLUME' });
    expect(await call('GetLastError')).toEqual({});
    for (const method of ['GetProvisionedConfig', 'GetServicingConfig'])
      expect(await refusal(method)).toEqual({
        code: 'FAILED_PRECONDITION',
        details: `Host is not provisioned: there is no datastore at ${path}`,
      });
  });

  test('a provisioned host: its configuration, state and volume; no servicing in progress', async () => {
    host(installed);
    expect(await call('GetServicingState')).toEqual({ state: 'PROVISIONED' });
    expect(await call('GetActiveVolume')).toEqual({ active_volume: 'VOLUME_A' });
    expect(await call('GetProvisionedConfig')).toEqual({ config: { config: V1_YAML } });
    expect(await refusal('GetServicingConfig')).toEqual({
      code: 'FAILED_PRECONDITION',
      details: 'No servicing is in progress: the servicing state is provisioned',
    });
    expect(await call('GetLastError')).toEqual({});
  });

  test('during an A/B update: the running configuration and the one being applied differ', async () => {
    host(installed, (s) => s.apply({ type: 'ab-update-staged', spec: V2 }));
    expect(await call('GetServicingState')).toEqual({ state: 'UPDATE_AB_STAGED' });
    expect(await call('GetProvisionedConfig')).toEqual({ config: { config: V1_YAML } });
    expect(await call('GetServicingConfig')).toEqual({ config: { config: V2_YAML } });
    host((s) => s.apply({ type: 'ab-update-finalized' }));
    expect(await call('GetServicingState')).toEqual({ state: 'UPDATE_AB_FINALIZED' });
    host((s) => s.apply({ type: 'committed' }));
    expect(await call('GetActiveVolume')).toEqual({ active_volume: 'VOLUME_B' });
    expect(await call('GetProvisionedConfig')).toEqual({ config: { config: V2_YAML } });
  });

  test('an install not yet committed is not provisioned; its configuration is the servicing one', async () => {
    host((s) => s.apply({ type: 'clean-install-staged', spec: V1 }));
    expect(await call('GetServicingState')).toEqual({ state: 'INSTALL_STAGED' });
    expect(await refusal('GetProvisionedConfig')).toEqual({
      code: 'FAILED_PRECONDITION',
      details: 'Host is not provisioned: its servicing state is clean-install-staged',
    });
    expect(await call('GetServicingConfig')).toEqual({ config: { config: V1_YAML } });
  });

  test('the recorded error, ours and Trident-written (its file:line location kept)', async () => {
    host(installed, (s) =>
      s.apply({
        type: 'failed',
        error: {
          message: 'Failed to deploy images',
          error: 'deploy-images',
          category: 'servicing',
          location: 'trident-ts',
          cause: 'Trident failed due to a servicing error\n\nContext:\n  0: Failed to deploy images',
        },
      }),
    );
    // (`_error` is grpc-js' name for the presence of the proto3 `optional` field.)
    expect(await call('GetLastError')).toEqual({
      _error: 'error',
      error: {
        kind: 'SERVICING_ERROR',
        subkind: 'deploy-images',
        error_message: 'Failed to deploy images',
        message: 'Trident failed due to a servicing error\n\nContext:\n  0: Failed to deploy images',
      },
    });
    host((s) =>
      s.apply({
        type: 'failed',
        error: {
          message: 'Health checks failed',
          error: { 'health-checks-failed': { details: 'unit x failed' } },
          category: 'health-checks',
          location: 'crates/trident/src/health/mod.rs:120',
          cause: null,
        },
      }),
    );
    expect(await call('GetLastError')).toEqual({
      _error: 'error',
      error: {
        kind: 'HEALTH_CHECKS_ERROR',
        subkind: 'health-checks-failed',
        error_message: 'Health checks failed',
        message: 'Health checks failed\n\nat crates/trident/src/health/mod.rs:120',
        location: { path: 'crates/trident/src/health/mod.rs', line: 120 },
      },
    });
  });

  test('a damaged datastore: a status naming the file and row, not a crash', async () => {
    writeFileSync(
      path,
      'not a database, just a text file that is long enough for SQLite to look at\n'.repeat(8),
    );
    const broken = await refusal('GetServicingState');
    expect(broken.code).toBe('UNKNOWN');
    expect(broken.details).toMatch(
      new RegExp(`^\\[DATASTORE_OPEN_FAILED\\] cannot open the datastore ${path}: `, 'u'),
    );
    rmSync(path);
    host(installed);
    // A row Trident could not have written, appended by another SQLite client.
    execFileSync('python3', [
      '-c',
      'import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute("INSERT INTO hoststatus (contents) VALUES (?)", ("servicingState: [",)); db.commit()',
      path,
    ]);
    const row = await refusal('GetProvisionedConfig');
    expect(row).toMatchObject({ code: 'UNKNOWN' });
    expect(row.details).toContain(`[DATASTORE_INVALID_ROW] row 4 of ${path}: not YAML`);
    // The daemon still answers.
    expect((await unary(clients.version, 'Version', {})).version).toBe(t.daemon.version);
  });
});
