/**
 * Issue 17: over gRPC, the Python C-core client (grpcio, tests/clients/python) drives one A/B
 * update of an installed host, inside the guest, against the guest's socket-activated tridentd:
 *
 * 1. `trident install` (on this host) of the full fixture into a disk image with an A/B root pair
 *    and the datastore on its own partition, as ab-update-boots.test.ts does.
 * 2. Boot 1, volume A: trident.service commits the install. A job unpacks the client (a virtio disk
 *    made by vm-python-client.ts) and calls UpdateService UpdateStage with the second build's Host
 *    Configuration (its COSI as `file:///dev/vdb`), then UpdateFinalize (the caller handles the
 *    reboot), reading the servicing state through StatusService in between; the job reboots.
 * 3. Boot 2, same machine: volume B, VERSION_ID 2, the update's hostname; commit made it
 *    `provisioned` on volume B, which `trident get` and the client's StatusService both show. The
 *    client then asks v1preview RollbackService for a manual A/B rollback: CheckRollback expects one,
 *    Rollback stages and finalizes it (the caller reboots); the job reboots.
 * 4. Boot 3, same machine: back on volume A (build 1, the install's hostname), the rollback
 *    committed at boot: `provisioned` on volume A with no last error.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createVmScope, runVmJob } from '@trident/test-support/vm';
import { type AgentPackage, ensureAgentPackage } from '@trident/test-support/vm-bundle';
import { ensureOsFixture, type OsFixture } from '@trident/test-support/vm-fixture';
import { jobFact as fact, jobFile as text } from '@trident/test-support/vm-job';
import {
  guestPythonClientCommand,
  type PackedPythonClient,
  PYTHON_CLIENT_DISK_SERIAL,
  packPythonClientForGuest,
  unpackPythonClientScript,
} from '@trident/test-support/vm-python-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { abStorage } from './ab-storage.ts';
import { trident, vmTestsAvailable } from './suite.ts';

const available = vmTestsAvailable(['full']);
const vms = createVmScope();
/** Two TCG boots, an update streamed inside the first. */
const TEST_TIMEOUT = 45 * 60_000;
/** tridentd.socket of the agent package. */
const SOCKET = '/run/trident/trident.sock';
let dir: string;
let agent: AgentPackage;
let client: PackedPythonClient;
let v1: OsFixture;
let v2: OsFixture;

const installConfiguration = (espMiB: number) => `image:
  url: file://${v1.cosi}
  sha384: ${v1.cosiSha384}
${abStorage(espMiB)}os:
  hostname: installed-host
`;

const updateConfiguration = (espMiB: number) => `image:
  url: file:///dev/vdb
  sha384: ${v2.cosiSha384}
${abStorage(espMiB)}os:
  hostname: grpc-updated-host
`;

/** `call` of the packed client in the guest, JSON lines into $TRIDENT_RESULTS/<name>.jsonl. */
function call(name: string, method: string, options = ''): string {
  return `${guestPythonClientCommand(SOCKET)} --timeout 2400 call ${method} ${options} > "$TRIDENT_RESULTS/${name}.jsonl" 2> "$TRIDENT_RESULTS/${name}.err"
echo "${name}-rc=$?"`;
}

const STATE = 'trident.v1preview.StatusService/GetServicingState';
const ROLLBACK = 'trident.v1preview.RollbackService';
const VOLUME = 'trident.v1preview.StatusService/GetActiveVolume';

const UPDATE_JOB = `${unpackPythonClientScript()}
echo "python=$(python3 --version 2>&1)"
${call('state-before', STATE)}
${call('stage', 'trident.v1.UpdateService/UpdateStage', '--config-file /run/trident-job/update.yaml --config-field config.config')}
${call('state-staged', STATE)}
${call('finalize', 'trident.v1.UpdateService/UpdateFinalize', `--request '{"reboot": {"handling": "CALLER_HANDLES_REBOOT"}}'`)}
${call('state-finalized', STATE)}
journalctl -b --no-pager -u tridentd.service > "$TRIDENT_RESULTS/tridentd.log" 2>&1
`;

const CHECK_JOB = `${unpackPythonClientScript()}
trident get status > "$TRIDENT_RESULTS/status.yaml" 2>&1 || echo "get-status-failed=$?"
echo "commit-unit=$(systemctl show -p Result --value trident.service) $(systemctl show -p ExecMainStatus --value trident.service)"
journalctl -b --no-pager -u trident.service > "$TRIDENT_RESULTS/commit-unit.log" 2>&1
${call('state', STATE)}
${call('volume', VOLUME)}
`;

/** The checks of CHECK_JOB, then a manual A/B rollback over gRPC whose reboot the job makes. */
const CHECK_AND_ROLLBACK_JOB = `${CHECK_JOB}
${call('check-rollback', `${ROLLBACK}/CheckRollback`, `--request '{"kind": "AB_ROLLBACK_REQUESTED"}'`)}
${call('rollback', `${ROLLBACK}/Rollback`, `--request '{"kind": "AB_ROLLBACK_REQUESTED", "finalize": {"reboot": {"handling": "CALLER_HANDLES_REBOOT"}}}'`)}
${call('state-rolled-back', STATE)}
journalctl -b --no-pager -u tridentd.service > "$TRIDENT_RESULTS/tridentd.log" 2>&1
`;

type Line = Record<string, any>;

function lines(job: { results: Map<string, Buffer> }, name: string): Line[] {
  const text = job.results.get(`${name}.jsonl`)?.toString() ?? '';
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Line);
}

/** The `completed` message of a streamed servicing call that ended with status OK. */
function completed(job: { results: Map<string, Buffer> }, name: string): Line {
  const all = lines(job, name);
  const why = `${name}: ${JSON.stringify(all.slice(-6))}\n${text(job, `${name}.err`)}`;
  expect(all.at(-1), why).toEqual({ event: 'status', code: 'OK', details: '' });
  const done = all.filter((l) => l['event'] === 'message' && l['kind'] === 'completed');
  expect(done, why).toHaveLength(1);
  return done[0]!['message']['completed'];
}

function response(job: { results: Map<string, Buffer> }, name: string): Line {
  return lines(job, name).at(-1)?.['message'] ?? {};
}

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), 'trident-vm-grpc-update-'));
  agent = await ensureAgentPackage();
  v1 = await ensureOsFixture({ flavour: 'full', agentDeb: agent.deb, hostname: 'management' });
  v2 = await ensureOsFixture({
    flavour: 'full',
    agentDeb: agent.deb,
    hostname: 'management',
    versionId: '2',
  });
  client = await packPythonClientForGuest(dir);
}, TEST_TIMEOUT);

afterEach(() => vms.cleanup());

afterAll(async () => {
  await vms.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!available)('A/B update driven over gRPC by the Python C-core client', () => {
  it(
    'UpdateStage then UpdateFinalize from inside the guest; the next boot is build 2 on volume B, committed; a manual rollback over gRPC brings back volume A',
    async () => {
      const espMiB = Math.ceil(v1.partitions.find((p) => p.role === 'esp')!.size / 1048576);
      const installConfig = join(dir, 'install.yaml');
      await writeFile(installConfig, installConfiguration(espMiB));
      const target = join(dir, 'host.img');
      const install = await trident(['install', installConfig, '--disk', `os=image:${target}:5G`]);
      expect(install.code, install.stderr).toBe(0);

      const machine = vms.machine();
      const disks = [
        { path: target },
        { path: v2.cosi, readOnly: true },
        { path: client.disk, readOnly: true, serial: PYTHON_CLIENT_DISK_SERIAL },
      ];

      // Boot 1, volume A (install committed at boot): the client stages and finalizes the update.
      const first = await runVmJob(vms, {
        name: 'grpc-update-1',
        machine,
        memoryMiB: 1536,
        disks,
        job: { script: UPDATE_JOB, files: { 'update.yaml': updateConfiguration(espMiB) }, after: 'reboot' },
        timeoutMs: 30 * 60_000,
      });
      const log1 = `${first.job.output}\n${text(first.job, 'tridentd.log').slice(-6000)}`;
      expect(first.boot.rootDevice).toBe('/dev/vda2');
      expect(fact(first.job.output, 'python'), log1).toMatch(/^Python 3\.11\./u);
      expect(response(first.job, 'state-before'), log1).toEqual({ state: 'PROVISIONED' });
      expect(completed(first.job, 'stage'), log1).toMatchObject({
        status: 'STATUS_CODE_SUCCESS',
        servicing_kind: 'SERVICING_KIND_AB_UPDATE',
      });
      expect(response(first.job, 'state-staged'), log1).toEqual({ state: 'UPDATE_AB_STAGED' });
      expect(completed(first.job, 'finalize'), log1).toMatchObject({
        status: 'STATUS_CODE_SUCCESS',
        servicing_kind: 'SERVICING_KIND_AB_UPDATE',
        reboot_status: 'REBOOT_REQUIRED',
      });
      expect(response(first.job, 'state-finalized'), log1).toEqual({ state: 'UPDATE_AB_FINALIZED' });

      // Boot 2, the same machine: volume B, build 2, committed by trident.service at boot.
      const second = await runVmJob(vms, {
        name: 'grpc-update-2',
        machine,
        memoryMiB: 1536,
        disks,
        job: { script: CHECK_AND_ROLLBACK_JOB, after: 'reboot' },
        timeoutMs: 20 * 60_000,
      });
      const log2 = `${second.job.output}\n${text(second.job, 'commit-unit.log')}\n${text(second.job, 'tridentd.log').slice(-6000)}`;
      expect(second.boot.versionId, log2).toBe('2');
      expect(second.boot.rootDevice, log2).toBe('/dev/vda3');
      expect(second.boot.hostname).toBe('grpc-updated-host');
      expect(fact(second.job.output, 'commit-unit'), log2).toBe('success 0');
      const status = text(second.job, 'status.yaml');
      expect(status, log2).toMatch(/servicingState: provisioned/u);
      expect(status).toMatch(/abActiveVolume: volume-b/u);
      expect(status).not.toMatch(/lastError/u);
      expect(response(second.job, 'state'), log2).toEqual({ state: 'PROVISIONED' });
      expect(response(second.job, 'volume'), log2).toEqual({ active_volume: 'VOLUME_B' });
      // The manual rollback, B → A: expected, then staged and finalized in one call.
      expect(response(second.job, 'check-rollback'), log2).toEqual({ kind: 'AB_ROLLBACK_EXPECTED' });
      expect(completed(second.job, 'rollback'), log2).toMatchObject({
        status: 'STATUS_CODE_SUCCESS',
        servicing_kind: 'SERVICING_KIND_MANUAL_ROLLBACK_AB',
        reboot_status: 'REBOOT_REQUIRED',
      });
      expect(response(second.job, 'state-rolled-back'), log2).toEqual({
        state: 'MANUAL_ROLLBACK_AB_FINALIZED',
      });

      // Boot 3, the same machine: volume A again, build 1, the rollback committed at boot.
      const third = await runVmJob(vms, {
        name: 'grpc-update-3',
        machine,
        memoryMiB: 1536,
        disks,
        job: { script: CHECK_JOB },
        timeoutMs: 20 * 60_000,
      });
      const log3 = `${third.job.output}\n${text(third.job, 'commit-unit.log')}`;
      expect(third.boot.rootDevice, log3).toBe('/dev/vda2');
      expect(third.boot.versionId, log3).toBe(first.boot.versionId);
      expect(third.boot.hostname).toBe('installed-host');
      expect(fact(third.job.output, 'commit-unit'), log3).toBe('success 0');
      const rolledBack = text(third.job, 'status.yaml');
      expect(rolledBack, log3).toMatch(/servicingState: provisioned/u);
      expect(rolledBack).toMatch(/abActiveVolume: volume-a/u);
      expect(rolledBack).not.toMatch(/lastError/u);
      expect(response(third.job, 'state'), log3).toEqual({ state: 'PROVISIONED' });
      expect(response(third.job, 'volume'), log3).toEqual({ active_volume: 'VOLUME_A' });
    },
    TEST_TIMEOUT,
  );
});
