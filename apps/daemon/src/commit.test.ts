/**
 * CommitService (v1 Commit, v1preview CheckRoot) over the socket, on real datastore files and this
 * machine's real root: the recorded volume A (or B) is the device mounted at `/` here, so the
 * booted-root test, health checks and transitions are the engine's own, not stand-ins.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDatastore } from '@trident/datastore';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
  bootedSpec,
  currentStatus,
  installedOn,
  ROOT,
  recordEvents,
  SHA,
} from './test-support/booted-host.ts';
import {
  collectStream,
  createTestClients,
  grpc,
  kindOf,
  type TestClients,
} from './test-support/grpc-test-client.ts';
import { startTestDaemon, type TestDaemon } from './test-support/test-daemon.ts';

describe('CommitService over the socket', () => {
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

  const record = (events: Parameters<typeof recordEvents>[1]) => recordEvents(path, events);
  const status = () => currentStatus(path);
  const installed = installedOn;
  const caller = { reboot: { handling: 'CALLER_HANDLES_REBOOT' } };
  const completedOf = async (method: 'Commit' | 'CheckRoot', request: object = caller) => {
    const client = method === 'Commit' ? clients.commit : clients.commitPreview;
    const result = await collectStream(client, method, request);
    expect(result.code).toBe(grpc.status.OK);
    expect(kindOf(result.messages[0])).toBe('started');
    expect(result.messages.filter((m) => kindOf(m) === 'completed')).toHaveLength(1);
    return {
      completed: result.messages.at(-1).completed,
      logs: result.messages.filter((m) => kindOf(m) === 'log'),
    };
  };

  test("a clean install booted on volume A: Commit makes it provisioned on A; the hash and kind are the install's", async () => {
    record(installed('root-a', [{ name: 'ok', runOn: ['clean-install'], content: 'true' }]));
    // CheckRoot first: it says the root is right and records nothing.
    const check = await completedOf('CheckRoot', {});
    expect(check.completed).toMatchObject({
      status: 'STATUS_CODE_SUCCESS',
      reboot_status: 'REBOOT_NOT_REQUIRED',
      image_hash: `sha384:${SHA}`,
      servicing_kind: 'SERVICING_KIND_CLEAN_INSTALL',
    });
    expect(check.logs.map((l) => l.log.message).join('\n')).toContain(`Root is ${ROOT}`);
    expect(status().servicingState).toBe('clean-install-finalized');

    const { completed } = await completedOf('Commit');
    expect(completed).toMatchObject({
      status: 'STATUS_CODE_SUCCESS',
      reboot_status: 'REBOOT_NOT_REQUIRED',
      image_hash: `sha384:${SHA}`,
      servicing_kind: 'SERVICING_KIND_CLEAN_INSTALL',
    });
    expect(status()).toMatchObject({ servicingState: 'provisioned', abActiveVolume: 'volume-a' });
    expect(status().lastError).toBeUndefined();

    // Nothing pending any more: Commit succeeds with NONE_REQUIRED, CheckRoot likewise.
    expect((await completedOf('Commit')).completed).toMatchObject({
      status: 'STATUS_CODE_SUCCESS',
      servicing_kind: 'SERVICING_KIND_NONE_REQUIRED',
      image_hash: `sha384:${SHA}`,
    });
    expect((await completedOf('CheckRoot', {})).completed).toMatchObject({
      status: 'STATUS_CODE_SUCCESS',
      servicing_kind: 'SERVICING_KIND_NONE_REQUIRED',
    });
  });

  test('booted from another root: CheckRoot fails recording nothing; Commit records the wrong root', async () => {
    record(installed('root-b'));
    const check = await completedOf('CheckRoot', {});
    expect(check.completed).toMatchObject({
      status: 'STATUS_CODE_FAILURE',
      reboot_status: 'REBOOT_NOT_REQUIRED',
      error: { kind: 'SERVICING_ERROR', subkind: 'clean-install-reboot-check' },
    });
    expect(check.completed.image_hash).toBeUndefined();
    expect(status().servicingState).toBe('clean-install-finalized');
    expect(status().lastError).toBeUndefined();

    const { completed } = await completedOf('Commit');
    expect(completed).toMatchObject({
      status: 'STATUS_CODE_FAILURE',
      reboot_status: 'REBOOT_NOT_REQUIRED',
      error: { kind: 'SERVICING_ERROR', subkind: 'clean-install-reboot-check' },
    });
    expect(completed.error.error_message).toContain(`but / is ${ROOT}`);
    expect(status()).toMatchObject({
      servicingState: 'not-provisioned',
      lastError: { category: 'servicing', error: 'clean-install-reboot-check' },
    });
  });

  test('an A/B update on volume B whose health check fails: REBOOT_REQUIRED for the caller, the failure recorded', async () => {
    record([
      ...installed('root-b'),
      { type: 'committed' },
      {
        type: 'ab-update-staged',
        spec: bootedSpec([{ name: 'no', runOn: ['ab-update'], content: 'exit 1' }]),
      },
      { type: 'ab-update-finalized' },
    ]);
    expect(status()).toMatchObject({ servicingState: 'ab-update-finalized', abActiveVolume: 'volume-a' });
    const { completed } = await completedOf('Commit');
    expect(completed).toMatchObject({
      status: 'STATUS_CODE_SUCCESS',
      reboot_status: 'REBOOT_REQUIRED',
      image_hash: `sha384:${SHA}`,
      servicing_kind: 'SERVICING_KIND_AB_UPDATE',
    });
    expect(status()).toMatchObject({
      servicingState: 'ab-update-health-check-failed',
      lastError: { category: 'health-checks', error: 'health-checks-failed' },
    });
  });

  test('no datastore: Completed FAILURE host-not-provisioned, and no datastore created', async () => {
    for (const method of ['Commit', 'CheckRoot'] as const) {
      const { completed } = await completedOf(method, method === 'Commit' ? caller : {});
      expect(completed).toMatchObject({
        status: 'STATUS_CODE_FAILURE',
        error: { kind: 'INVALID_INPUT_ERROR', subkind: 'host-not-provisioned' },
      });
    }
    expect(() => openDatastore(path, { readOnly: true })).toThrow(/no datastore|not found|does not exist/iu);
  });
});
