/**
 * UpdateService over the socket with the engine's A/B update on real datastore files whose volume
 * A is this machine's root: the request checks, the entry checks the engine makes before anything
 * is written (no datastore, nothing staged to finalize, nothing changed), and the stage-only
 * reboot rule. Streaming an update into volume B needs a disk of its own: the engine's e2e update
 * test (loop devices) and the VM's A/B update test do that.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDatastore, toYaml } from '@trident/datastore';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { bootedSpec, currentStatus, installedOn, recordEvents } from './test-support/booted-host.ts';
import {
  collectStream,
  createTestClients,
  grpc,
  kindOf,
  type TestClients,
} from './test-support/grpc-test-client.ts';
import { startTestDaemon, type TestDaemon } from './test-support/test-daemon.ts';

describe('UpdateService over the socket', () => {
  let t: TestDaemon;
  let clients: TestClients;
  let path: string;
  beforeAll(async () => {
    t = await startTestDaemon();
    clients = createTestClients(t.socketPath);
    path = join(t.dir, 'datastore.sqlite');
  });
  beforeEach(() => rmSync(path, { force: true }));
  afterAll(async () => {
    clients.close();
    expect(await t.close()).toBe(0);
  });

  const completed = async (method: string, request: object) => {
    const result = await collectStream(clients.update, method, request);
    expect(result.code, result.details).toBe(grpc.status.OK);
    expect(kindOf(result.messages[0])).toBe('started');
    return {
      completed: result.messages.at(-1).completed,
      logs: result.messages.filter((m) => kindOf(m) === 'log').map((m) => m.log.message),
    };
  };
  const caller = { reboot: { handling: 'CALLER_HANDLES_REBOOT' } };

  const provisionedOnA = () => recordEvents(path, [...installedOn('root-a'), { type: 'committed' }]);
  const rows = () => {
    const store = openDatastore(path, { readOnly: true });
    try {
      return store.history().length;
    } finally {
      store.close();
    }
  };

  test('no datastore: Update and UpdateFinalize fail host-not-provisioned, nothing created', async () => {
    const update = await completed('Update', {
      stage: { config: { config: toYaml(bootedSpec()) } },
      finalize: caller,
    });
    const finalize = await completed('UpdateFinalize', caller);
    for (const { completed: c } of [update, finalize])
      expect(c).toMatchObject({
        status: 'STATUS_CODE_FAILURE',
        reboot_status: 'REBOOT_NOT_REQUIRED',
        error: { kind: 'INVALID_INPUT_ERROR', subkind: 'host-not-provisioned' },
      });
    expect(finalize.completed.error.error_message).toContain(path);
    expect(() => openDatastore(path, { readOnly: true })).toThrow();
  });

  test('a host provisioned on volume A (this machine): the same configuration is nothing to update', async () => {
    provisionedOnA();
    const before = rows();
    const { completed: c, logs } = await completed('Update', {
      stage: { config: { config: toYaml(bootedSpec()) } },
      finalize: caller,
    });
    expect(c).toMatchObject({
      status: 'STATUS_CODE_SUCCESS',
      reboot_status: 'REBOOT_NOT_REQUIRED',
      servicing_kind: 'SERVICING_KIND_NONE_REQUIRED',
    });
    expect(logs.some((l) => l.startsWith('nothing to update'))).toBe(true);
    // UpdateFinalize with nothing staged: the stored configuration is not new either.
    expect((await completed('UpdateFinalize', caller)).completed).toMatchObject({
      status: 'STATUS_CODE_SUCCESS',
      servicing_kind: 'SERVICING_KIND_NONE_REQUIRED',
    });
    expect(rows()).toBe(before);
    expect(currentStatus(path)).toMatchObject({ servicingState: 'provisioned', abActiveVolume: 'volume-a' });
  });

  test('UpdateStage of a new image the engine cannot load: FAILURE before any write', async () => {
    provisionedOnA();
    const next = bootedSpec(undefined, 'edge-2');
    (next['image'] as { url: string }).url = `file://${join(t.dir, 'absent.cosi')}`;
    const { completed: c } = await completed('UpdateStage', { config: { config: toYaml(next) } });
    expect(c).toMatchObject({
      status: 'STATUS_CODE_FAILURE',
      reboot_status: 'REBOOT_NOT_REQUIRED',
      error: { kind: 'INVALID_INPUT_ERROR', subkind: 'load-cosi' },
    });
    expect(c.error.error_message).toContain('absent.cosi');
    // Planning refused it: the host stays provisioned on volume A (whether a plan-time refusal is
    // recorded as lastError is the engine's; upstream records it).
    expect(currentStatus(path)).toMatchObject({ servicingState: 'provisioned', abActiveVolume: 'volume-a' });
  });
});
