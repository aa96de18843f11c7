/**
 * RollbackService over the socket on real datastore files: the chain queries for every shape of
 * history, the request kinds and their refusals, and the servicing RPCs' stage half and refusals.
 * (Finalizing an A/B rollback switches this machine's boot entries, and a runtime one rewrites its
 * netplan: those are the engine's tests, on a prepared ESP and root, and the VM's.)
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ServicingEvent } from '@trident/datastore';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { bootedPaths, bootedSpec, currentStatus, recordEvents } from './test-support/booted-host.ts';
import {
  collectStream,
  createTestClients,
  grpc,
  kindOf,
  type TestClients,
  unary,
} from './test-support/grpc-test-client.ts';
import { startTestDaemon, type TestDaemon } from './test-support/test-daemon.ts';

const V1 = bootedSpec(undefined, 'v1');
const V2 = bootedSpec(undefined, 'v2');
const V2_NETPLAN = { ...bootedSpec(undefined, 'v2'), os: { hostname: 'v2', netplan: { version: 2 } } };

/** Install v1 committed on volume A, then an A/B update to v2 committed on volume B. */
const AB_UPDATED: ServicingEvent[] = [
  { type: 'clean-install-staged', spec: V1, partitionPaths: bootedPaths('root-a'), installIndex: 0 },
  { type: 'clean-install-finalized' },
  { type: 'committed' },
  { type: 'ab-update-staged', spec: V2 },
  { type: 'ab-update-finalized' },
  { type: 'committed' },
];
/** Then a runtime update adding netplan. */
const RUNTIME_UPDATED: ServicingEvent[] = [
  ...AB_UPDATED,
  { type: 'runtime-update-staged', spec: V2_NETPLAN },
  { type: 'runtime-update-finalized' },
];

describe('RollbackService over the socket', () => {
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

  const call = (method: string, request: object = {}) => unary(clients.rollback, method, request);
  const refusal = (method: string, request: object = {}) =>
    call(method, request).then(
      () => expect.unreachable(`${method} answered`),
      (error: grpc.ServiceError) => ({ code: grpc.status[error.code], details: error.details }),
    );
  const check = async (kind: string) => (await call('CheckRollback', { kind })).kind;

  test('a host with only its install: no rollback, an empty chain, no target', async () => {
    recordEvents(path, AB_UPDATED.slice(0, 3));
    for (const kind of [
      'MANUAL_ROLLBACK_KIND_UNSPECIFIED',
      'ANY_ROLLBACK_REQUESTED',
      'AB_ROLLBACK_REQUESTED',
    ])
      expect(await check(kind)).toBe('NO_ROLLBACK_AVAILABLE');
    expect(await call('GetRollbackChain')).toEqual({});
    expect(await call('GetRollbackTarget')).toEqual({});
  });

  test('after an A/B and a runtime update: the chain newest first, the target, each kind checked', async () => {
    recordEvents(path, RUNTIME_UPDATED);
    const { rollback_chain: chain } = await call('GetRollbackChain');
    expect(chain).toHaveLength(2);
    expect(chain[0]).toMatch(/^kind: runtime\nspec:\n/u);
    expect(chain[0]).toContain('hostname: v2');
    expect(chain[0]).not.toContain('netplan');
    expect(chain[0]).toContain('abActiveVolume: volume-b');
    expect(chain[1]).toMatch(/^kind: ab\n/u);
    expect(chain[1]).toContain('hostname: v1');
    expect(chain[1]).toContain('abActiveVolume: volume-a');
    const { rollback_target: target } = await call('GetRollbackTarget');
    expect(target).toContain('hostname: v2');
    expect(target).not.toContain('netplan');
    expect(await check('ANY_ROLLBACK_REQUESTED')).toBe('RUNTIME_ROLLBACK_EXPECTED');
    expect(await check('RUNTIME_ROLLBACK_REQUESTED')).toBe('RUNTIME_ROLLBACK_EXPECTED');
    // --ab skips the newer runtime item.
    expect(await check('AB_ROLLBACK_REQUESTED')).toBe('AB_ROLLBACK_EXPECTED');
  });

  test('refusals: an expectation the chain cannot meet, an unknown kind, no datastore', async () => {
    recordEvents(path, AB_UPDATED);
    expect(await refusal('CheckRollback', { kind: 'RUNTIME_ROLLBACK_REQUESTED' })).toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: expect.stringMatching(/^\[invalid-rollback-expectation\] expected to undo a runtime update/u),
    });
    expect(await refusal('CheckRollback', { kind: 9 })).toEqual({
      code: 'INVALID_ARGUMENT',
      details:
        'Unknown rollback kind 9: expected ANY_ROLLBACK_REQUESTED (1), AB_ROLLBACK_REQUESTED (2) or RUNTIME_ROLLBACK_REQUESTED (3)',
    });
    rmSync(path);
    for (const method of ['CheckRollback', 'GetRollbackChain', 'GetRollbackTarget'])
      expect(await refusal(method)).toMatchObject({
        code: 'FAILED_PRECONDITION',
        details: expect.stringContaining(`[host-not-provisioned] no datastore at ${path}`),
      });
  });

  test('RollbackStage stages the A/B rollback (no reboot); Rollback in a state that allows none does nothing', async () => {
    recordEvents(path, RUNTIME_UPDATED);
    const staged = await collectStream(clients.rollback, 'RollbackStage', { kind: 'AB_ROLLBACK_REQUESTED' });
    expect(staged.code).toBe(grpc.status.OK);
    expect(kindOf(staged.messages[0])).toBe('started');
    expect(staged.messages.at(-1).completed).toMatchObject({
      status: 'STATUS_CODE_SUCCESS',
      reboot_status: 'REBOOT_NOT_REQUIRED',
      servicing_kind: 'SERVICING_KIND_MANUAL_ROLLBACK_AB',
    });
    const status = currentStatus(path);
    expect(status.servicingState).toBe('manual-rollback-ab-staged');
    expect((status.spec as { os: { hostname: string } }).os.hostname).toBe('v1');
    // Staged, the chain is no longer offered (the newest row is not provisioned).
    expect(await check('ANY_ROLLBACK_REQUESTED')).toBe('NO_ROLLBACK_AVAILABLE');
    // A runtime expectation against the staged A/B rollback is refused in Completed.
    const wrong = await collectStream(clients.rollback, 'RollbackStage', {
      kind: 'RUNTIME_ROLLBACK_REQUESTED',
    });
    expect(wrong.messages.at(-1).completed).toMatchObject({
      status: 'STATUS_CODE_FAILURE',
      error: { kind: 'INVALID_INPUT_ERROR', subkind: 'invalid-rollback-expectation' },
    });

    rmSync(path);
    recordEvents(path, [...AB_UPDATED, { type: 'ab-update-staged', spec: V1 }]);
    const none = await collectStream(clients.rollback, 'Rollback', {
      kind: 'ANY_ROLLBACK_REQUESTED',
      finalize: { reboot: { handling: 'CALLER_HANDLES_REBOOT' } },
    });
    expect(none.messages.at(-1).completed).toMatchObject({
      status: 'STATUS_CODE_SUCCESS',
      reboot_status: 'REBOOT_NOT_REQUIRED',
      servicing_kind: 'SERVICING_KIND_NONE_REQUIRED',
    });
    const logs = none.messages.filter((m) => kindOf(m) === 'log').map((m) => m.log.message);
    expect(logs).toContain('No rollback: servicing state ab-update-staged allows no rollback');
    expect(currentStatus(path).servicingState).toBe('ab-update-staged');
  });

  test('RollbackFinalize with nothing staged: Completed FAILURE invalid-rollback-state, recorded', async () => {
    recordEvents(path, AB_UPDATED);
    const result = await collectStream(clients.rollback, 'RollbackFinalize', {
      reboot: { handling: 'CALLER_HANDLES_REBOOT' },
    });
    expect(result.code).toBe(grpc.status.OK);
    expect(result.messages.at(-1).completed).toMatchObject({
      status: 'STATUS_CODE_FAILURE',
      reboot_status: 'REBOOT_NOT_REQUIRED',
      error: { kind: 'INVALID_INPUT_ERROR', subkind: 'invalid-rollback-state' },
    });
    expect(currentStatus(path)).toMatchObject({
      servicingState: 'provisioned',
      lastError: { error: 'invalid-rollback-state' },
    });
  });
});
