/** Install end to end: a Host Configuration over gRPC, the real engine, a disk-image file target. */

import { rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openDatastore } from '@trident/datastore';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type CosiFixture, createCosiFixture } from './test-support/cosi-fixture.ts';
import {
  collectStream,
  createTestClients,
  grpc,
  kindOf,
  type TestClients,
  unary,
} from './test-support/grpc-test-client.ts';
import { startTestDaemon, type TestDaemon } from './test-support/test-daemon.ts';

let fixture: CosiFixture;
let t: TestDaemon;
let clients: TestClients;
let target: string;

const hostConfiguration = (url: string, sha384: string) => `image:
  url: ${url}
  sha384: ${sha384}
storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - id: esp
          type: esp
          size: 16M
        - id: root
          type: root
          size: 64M
  filesystems:
    - deviceId: esp
      mountPoint:
        path: /boot/efi
        options: umask=0077
    - deviceId: root
      mountPoint: /
`;

beforeAll(async () => {
  fixture = await createCosiFixture();
  target = join(fixture.dir, 'install.img');
  t = await startTestDaemon({ installDisks: { os: { kind: 'image-file', path: target, overwrite: true } } });
  clients = createTestClients(t.socketPath);
});
afterAll(async () => {
  clients?.close();
  await t?.close();
  await fixture?.cleanup();
});

test('Install: Started, Logs, Completed SUCCESS with the image hash; the disk image has a GPT', async () => {
  const result = await collectStream(clients.install, 'Install', {
    stage: { config: { config: hostConfiguration(fixture.url, fixture.metadataSha384) } },
    finalize: { reboot: { handling: 'CALLER_HANDLES_REBOOT' } },
  });
  expect(result.code).toBe(grpc.status.OK);
  expect(kindOf(result.messages[0])).toBe('started');
  const completed = result.messages.at(-1).completed;
  expect(completed, JSON.stringify(completed?.error)).toMatchObject({
    status: 'STATUS_CODE_SUCCESS',
    reboot_status: 'REBOOT_NOT_REQUIRED',
    image_hash: `sha384:${fixture.metadataSha384}`,
    servicing_kind: 'SERVICING_KIND_CLEAN_INSTALL',
  });
  const head = (await readFile(target)).subarray(512, 520).toString('latin1');
  expect(head).toBe('EFI PART');
});

test('Install with an invalid Host Configuration: Completed FAILURE invalid-host-configuration', async () => {
  const result = await collectStream(clients.install, 'Install', {
    stage: { config: { config: 'storage: [1, 2\n' } },
    finalize: {},
  });
  expect(result.code).toBe(grpc.status.OK);
  expect(result.messages.at(-1).completed).toMatchObject({
    status: 'STATUS_CODE_FAILURE',
    reboot_status: 'REBOOT_NOT_REQUIRED',
    error: { kind: 'INVALID_INPUT_ERROR', subkind: 'invalid-host-configuration' },
  });
});

test('InstallFinalize with nothing staged: Completed FAILURE unexpected-servicing-state, nothing written', async () => {
  rmSync(target, { force: true });
  const result = await collectStream(clients.install, 'InstallFinalize', {
    reboot: { handling: 'CALLER_HANDLES_REBOOT' },
  });
  expect(result.code).toBe(grpc.status.OK);
  const completed = result.messages.at(-1).completed;
  expect(completed).toMatchObject({
    status: 'STATUS_CODE_FAILURE',
    reboot_status: 'REBOOT_NOT_REQUIRED',
    error: { kind: 'INTERNAL_ERROR', subkind: 'unexpected-servicing-state' },
  });
  expect(completed.error.error_message).toContain(join(t.dir, 'datastore.sqlite'));
  await expect(readFile(target)).rejects.toThrow();
});

test('InstallStage without a config: INVALID_ARGUMENT before any stream', async () => {
  const result = await collectStream(clients.install, 'InstallStage', {});
  expect(result.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(result.details).toBe('Missing host configuration in staging configuration');
  expect(result.messages).toEqual([]);
});

test('InstallStage then InstallFinalize: staged in the daemon datastore (INSTALL_STAGED), then finalized', async () => {
  const datastore = join(t.dir, 'datastore.sqlite');
  rmSync(datastore, { force: true });
  const stage = await collectStream(clients.install, 'InstallStage', {
    config: { config: hostConfiguration(fixture.url, fixture.metadataSha384) },
  });
  expect(stage.code).toBe(grpc.status.OK);
  const staged = stage.messages.at(-1).completed;
  expect(staged, JSON.stringify(staged?.error)).toMatchObject({
    status: 'STATUS_CODE_SUCCESS',
    reboot_status: 'REBOOT_NOT_REQUIRED',
    image_hash: `sha384:${fixture.metadataSha384}`,
    servicing_kind: 'SERVICING_KIND_CLEAN_INSTALL',
  });
  expect(await unary(clients.status, 'GetServicingState', {})).toEqual({ state: 'INSTALL_STAGED' });
  // The servicing configuration is the staged document; the host is not provisioned yet.
  const servicing = await unary(clients.status, 'GetServicingConfig', {});
  expect(servicing.config.config).toContain('partitionTableType: gpt');

  const finalize = await collectStream(clients.install, 'InstallFinalize', {
    reboot: { handling: 'TRIDENT_HANDLES_REBOOT' },
  });
  expect(finalize.code).toBe(grpc.status.OK);
  const finalized = finalize.messages.at(-1).completed;
  expect(finalized, JSON.stringify(finalized?.error)).toMatchObject({
    status: 'STATUS_CODE_SUCCESS',
    // A disk-image file boots nothing on this host: no reboot, even though Trident may handle one.
    reboot_status: 'REBOOT_NOT_REQUIRED',
    image_hash: `sha384:${fixture.metadataSha384}`,
    servicing_kind: 'SERVICING_KIND_CLEAN_INSTALL',
  });
  const logs = finalize.messages.filter((m) => kindOf(m) === 'log').map((m) => m.log.message);
  expect(logs.join('\n')).toContain('Finalizing the clean install staged in');
  expect(await unary(clients.status, 'GetServicingState', {})).toEqual({ state: 'INSTALL_FINALIZED' });
  const store = openDatastore(datastore, { readOnly: true });
  try {
    expect(store.current()).toMatchObject({
      servicingState: 'clean-install-finalized',
      isManagementOs: true,
    });
  } finally {
    store.close();
  }
});
