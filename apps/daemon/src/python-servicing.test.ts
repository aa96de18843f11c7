/**
 * The servicing RPCs beyond StreamDisk driven by the Python grpcio client (gRPC C-core) through
 * its generic `call` command: InstallStage then InstallFinalize into a disk-image file (the
 * staged state in the daemon's datastore in between), and CommitService Commit / CheckRoot on a
 * datastore whose volume A is this machine's root (a host booted from volume A, as an update needs),
 * then RollbackService's check and chain and an UpdateService Update (nothing to update) on it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toYaml } from '@trident/datastore';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { currentStatus, installedOn, ROOT, recordEvents, SHA } from './test-support/booted-host.ts';
import { type CosiFixture, createCosiFixture } from './test-support/cosi-fixture.ts';
import {
  type Line,
  preparePython,
  pythonClient,
  pythonClientAvailable,
} from './test-support/python-client.ts';
import { startTestDaemon, type TestDaemon } from './test-support/test-daemon.ts';

const available = pythonClientAvailable();

const hostConfiguration = (url: string, sha384: string) => `image:
  url: ${url}
  sha384: ${sha384}
storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: 16M }
        - { id: root, type: root, size: 64M }
  filesystems:
    - deviceId: esp
      mountPoint: { path: /boot/efi, options: umask=0077 }
    - deviceId: root
      mountPoint: /
`;

describe.skipIf(!available)('Python grpcio client: install stage/finalize, commit, check root', () => {
  let fixture: CosiFixture;
  let t: TestDaemon;
  let work: string;
  let datastore: string;
  let client: (...args: string[]) => Promise<Line[]>;

  const completedOf = (lines: Line[]) => {
    const messages = lines.filter((l) => l['event'] === 'message');
    expect(messages[0]!['kind']).toBe('started');
    expect(messages.filter((m) => m['kind'] === 'completed')).toHaveLength(1);
    expect(lines.at(-1)).toEqual({ event: 'status', code: 'OK', details: '' });
    return messages.at(-1)!['message']['completed'];
  };
  const state = async () =>
    (await client('call', 'trident.v1preview.StatusService/GetServicingState')).at(-1)!['message']['state'];

  beforeAll(async () => {
    const python = await preparePython();
    work = await mkdtemp(join(tmpdir(), 'tridentd-python-servicing-'));
    fixture = await createCosiFixture();
    t = await startTestDaemon({
      installDisks: { os: { kind: 'image-file', path: join(work, 'disk.img'), overwrite: true } },
    });
    datastore = join(t.dir, 'datastore.sqlite');
    client = pythonClient(python, () => t.socketPath, join(work, 'stubs'));
  }, 900_000);
  afterAll(async () => {
    if (t !== undefined) expect(await t.close()).toBe(0);
    await fixture?.cleanup();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  test('InstallStage, then InstallFinalize: INSTALL_STAGED in between, INSTALL_FINALIZED after', async () => {
    const hc = join(work, 'host-config.yaml');
    await writeFile(hc, hostConfiguration(fixture.url, fixture.metadataSha384));
    const staged = completedOf(
      await client('call', 'trident.v1preview.InstallService/InstallStage', '--config-file', hc),
    );
    expect(staged).toEqual({
      status: 'STATUS_CODE_SUCCESS',
      reboot_status: 'REBOOT_NOT_REQUIRED',
      image_hash: `sha384:${fixture.metadataSha384}`,
      servicing_kind: 'SERVICING_KIND_CLEAN_INSTALL',
    });
    expect(await state()).toBe('INSTALL_STAGED');
    const finalized = completedOf(
      await client(
        'call',
        'trident.v1preview.InstallService/InstallFinalize',
        '--request',
        JSON.stringify({ reboot: { handling: 'CALLER_HANDLES_REBOOT' } }),
      ),
    );
    expect(finalized).toMatchObject({
      status: 'STATUS_CODE_SUCCESS',
      servicing_kind: 'SERVICING_KIND_CLEAN_INSTALL',
    });
    expect(await state()).toBe('INSTALL_FINALIZED');
    // Finalized once: a second finalize finds nothing staged.
    const again = completedOf(await client('call', 'trident.v1preview.InstallService/InstallFinalize'));
    expect(again).toMatchObject({
      status: 'STATUS_CODE_FAILURE',
      error: { kind: 'INTERNAL_ERROR', subkind: 'unexpected-servicing-state' },
    });
  });

  test("CheckRoot, then Commit, of a clean install booted from volume A (this machine's root)", async () => {
    await rm(datastore, { force: true });
    recordEvents(datastore, installedOn('root-a'));
    const checked = await client('call', 'trident.v1preview.CommitService/CheckRoot');
    expect(completedOf(checked)).toMatchObject({
      status: 'STATUS_CODE_SUCCESS',
      servicing_kind: 'SERVICING_KIND_CLEAN_INSTALL',
    });
    expect(
      checked.some(
        (l) => l['kind'] === 'log' && String(l['message']['log']['message']).includes(`Root is ${ROOT}`),
      ),
    ).toBe(true);
    expect(await state()).toBe('INSTALL_FINALIZED');
    const committed = completedOf(
      await client(
        'call',
        'trident.v1.CommitService/Commit',
        '--request',
        JSON.stringify({ reboot: { handling: 'CALLER_HANDLES_REBOOT' } }),
      ),
    );
    expect(committed).toEqual({
      status: 'STATUS_CODE_SUCCESS',
      reboot_status: 'REBOOT_NOT_REQUIRED',
      image_hash: `sha384:${SHA}`,
      servicing_kind: 'SERVICING_KIND_CLEAN_INSTALL',
    });
    expect(await state()).toBe('PROVISIONED');
    expect(currentStatus(datastore)).toMatchObject({
      servicingState: 'provisioned',
      abActiveVolume: 'volume-a',
    });
    const volume = await client('call', 'trident.v1preview.StatusService/GetActiveVolume');
    expect(volume.at(-1)).toEqual({ event: 'response', message: { active_volume: 'VOLUME_A' } });

    // Just installed: RollbackService says there is nothing to roll back, in C-core's proto3 JSON.
    const check = await client(
      'call',
      'trident.v1preview.RollbackService/CheckRollback',
      '--request',
      JSON.stringify({ kind: 'ANY_ROLLBACK_REQUESTED' }),
    );
    expect(check.at(-1)).toEqual({ event: 'response', message: { kind: 'NO_ROLLBACK_AVAILABLE' } });
    const chain = await client('call', 'trident.v1preview.RollbackService/GetRollbackChain');
    expect(chain.at(-1)).toEqual({ event: 'response', message: {} });

    // UpdateService on the committed host (booted from volume A): the recorded configuration again
    // is nothing to update (streaming into volume B is the engine's e2e and VM tests).
    const hc = join(work, 'recorded.yaml');
    await writeFile(hc, toYaml(currentStatus(datastore).spec));
    const update = await client(
      'call',
      'trident.v1.UpdateService/Update',
      '--config-file',
      hc,
      '--config-field',
      'stage.config.config',
      '--request',
      JSON.stringify({ finalize: { reboot: { handling: 'CALLER_HANDLES_REBOOT' } } }),
    );
    expect(completedOf(update)).toEqual({
      status: 'STATUS_CODE_SUCCESS',
      reboot_status: 'REBOOT_NOT_REQUIRED',
      servicing_kind: 'SERVICING_KIND_NONE_REQUIRED',
    });
    expect(await state()).toBe('PROVISIONED');
  });
});
