/**
 * Reboot handling with the real engine on a real block device (a loop device): a disk target needs
 * a reboot, so TRIDENT_HANDLES_REBOOT reports REBOOT_STARTED and runs the (harmless) reboot
 * command after the stream closed, and CALLER_HANDLES_REBOOT reports REBOOT_REQUIRED.
 */
import { existsSync } from 'node:fs';
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { componentAvailable } from '@trident/test-support/component';
import { createLoopScope, type LoopScope, loopDeviceSupport } from '@trident/test-support/loop-device';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type CosiFixture, createCosiFixture } from './test-support/cosi-fixture.ts';
import {
  collectStream,
  createTestClients,
  grpc,
  kindOf,
  startStream,
} from './test-support/grpc-test-client.ts';
import { startTestDaemon } from './test-support/test-daemon.ts';

const loop = loopDeviceSupport();

const loopAvailable = componentAvailable(
  loop.available,
  'loop-device reboot',
  'reason' in loop ? loop.reason : '',
);

describe.skipIf(!loopAvailable)('reboot handling on a loop device', () => {
  let fixture: CosiFixture;
  let scope: LoopScope;
  let device: string;
  beforeAll(async () => {
    fixture = await createCosiFixture();
    scope = createLoopScope();
    const backing = join(fixture.dir, 'loop.img');
    await writeFile(backing, '');
    await truncate(backing, fixture.diskSize + 8 * 1024 * 1024);
    device = (await scope.attach(backing)).path;
  });
  afterAll(async () => {
    await scope?.cleanup();
    await fixture?.cleanup();
  });

  test('TRIDENT_HANDLES_REBOOT: REBOOT_STARTED, then the reboot command runs after the stream closed', async () => {
    const flag = join(fixture.dir, 'rebooted');
    const t = await startTestDaemon({
      streamTarget: { kind: 'disk', path: device },
      rebootCommand: `touch '${flag}'`,
      rebootWaitMs: 0,
    });
    const clients = createTestClients(t.socketPath);
    let flagAtCompleted: boolean | undefined;
    const stream = startStream(clients.streaming, 'StreamDisk', {
      image_url: fixture.url,
      reboot: { handling: 'TRIDENT_HANDLES_REBOOT' },
    });
    stream.call.on('data', (m: any) => {
      if (kindOf(m) === 'completed') flagAtCompleted = existsSync(flag);
    });
    const result = await stream.result;
    clients.close();
    expect(result.code).toBe(grpc.status.OK);
    const completed = result.messages.at(-1).completed;
    expect(completed).toMatchObject({
      status: 'STATUS_CODE_SUCCESS',
      reboot_status: 'REBOOT_STARTED',
      servicing_kind: 'SERVICING_KIND_CLEAN_INSTALL',
    });
    expect(flagAtCompleted).toBe(false);
    expect(await t.daemon.finished).toBe(0);
    expect(existsSync(flag)).toBe(true);
    expect(t.logs.some((l) => l.includes('Requesting reboot'))).toBe(true);
    await t.close();
  });

  test('a failing reboot command makes the daemon exit 3', async () => {
    const t = await startTestDaemon({
      streamTarget: { kind: 'disk', path: device },
      rebootCommand: 'exit 7',
      rebootWaitMs: 0,
    });
    const clients = createTestClients(t.socketPath);
    const result = await collectStream(clients.streaming, 'StreamDisk', { image_url: fixture.url });
    clients.close();
    expect(result.messages.at(-1).completed.reboot_status).toBe('REBOOT_STARTED');
    expect(await t.daemon.finished).toBe(3);
    await t.close();
  });

  test('CALLER_HANDLES_REBOOT: REBOOT_REQUIRED, no reboot, the daemon keeps serving', async () => {
    const flag = join(fixture.dir, 'not-rebooted');
    const t = await startTestDaemon({
      streamTarget: { kind: 'disk', path: device },
      rebootCommand: `touch '${flag}'`,
    });
    const clients = createTestClients(t.socketPath);
    const result = await collectStream(clients.streaming, 'StreamDisk', {
      image_url: fixture.url,
      reboot: { handling: 'CALLER_HANDLES_REBOOT' },
    });
    expect(result.messages.at(-1).completed).toMatchObject({
      status: 'STATUS_CODE_SUCCESS',
      reboot_status: 'REBOOT_REQUIRED',
    });
    const again = await collectStream(clients.streaming, 'StreamDisk', { image_url: 'bad url' });
    expect(again.code).toBe(grpc.status.INVALID_ARGUMENT);
    clients.close();
    expect(existsSync(flag)).toBe(false);
    expect(await t.close()).toBe(0);
  });
});
