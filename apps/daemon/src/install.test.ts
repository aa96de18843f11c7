/** Install end to end: a Host Configuration over gRPC, the real engine, a disk-image file target. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type CosiFixture, createCosiFixture } from './test-support/cosi-fixture.ts';
import {
  collectStream,
  createTestClients,
  grpc,
  kindOf,
  type TestClients,
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
