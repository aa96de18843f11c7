/** `trident grpc-client` against a running tridentd with the real engine. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type CosiFixture, createCosiFixture } from '../test-support/cosi-fixture.ts';
import { startTestDaemon, type TestDaemon } from '../test-support/test-daemon.ts';
import { runGrpcClient } from './grpc-client.ts';

let fixture: CosiFixture;
let t: TestDaemon;
let server: string;

beforeAll(async () => {
  fixture = await createCosiFixture();
  t = await startTestDaemon({
    streamTarget: { kind: 'image-file', path: join(fixture.dir, 'client.img'), overwrite: true },
  });
  server = `unix://${t.socketPath}`;
});
afterAll(async () => {
  await t?.close();
  await fixture?.cleanup();
});

async function client(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runGrpcClient(['-s', server, ...argv], {
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
    clientVersion: '9.9.9',
  });
  return { code, stdout, stderr };
}

describe('trident grpc-client', () => {
  test('version prints client and daemon versions', async () => {
    const r = await client('version');
    expect(r).toEqual({ code: 0, stdout: `client: 9.9.9\ndaemon: ${t.daemon.version}\n`, stderr: '' });
  });

  test('stream-disk prints forwarded logs and progress and exits 0', async () => {
    const r = await client('stream-disk', fixture.url, '--hash', `sha384:${fixture.metadataSha384}`);
    expect(r.code).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toBe('[INFO  trident::grpc_client] Servicing started');
    expect(lines[1]).toMatch(/^\[INFO {2}DAEMON::trident\] Running Trident version: /);
    expect(
      lines.some((l) => /^\[INFO {2}DAEMON::trident::engine::progress\] Progress: .* 100% /.test(l)),
    ).toBe(true);
    expect(lines.at(-1)).toBe(
      `[INFO  trident::grpc_client] Servicing succeeded (REBOOT_NOT_REQUIRED, image sha384:${fixture.metadataSha384}, SERVICING_KIND_CLEAN_INSTALL)`,
    );
  });

  test('stream-image is an alias; -v INFO hides DEBUG lines', async () => {
    const r = await client('-v', 'INFO', 'stream-image', fixture.url);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('[DEBUG');
  });

  test('a failing image exits 2 with KIND:subkind: message', async () => {
    const r = await client('stream-disk', fixture.junkUrl);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /\[ERROR trident::grpc_client\] Servicing failed with error: INVALID_INPUT_ERROR:load-cosi: Trident failed due to invalid input/,
    );
  });

  test('gRPC status errors exit 2 with the status name', async () => {
    const r = await client('stream-disk', 'nope');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "gRPC call failed: INVALID_ARGUMENT: Invalid image URL 'nope': relative URL without a base",
    );
    const missing = await runGrpcClient(['-s', `unix://${join(t.dir, 'absent.sock')}`, 'version'], {
      stdout: () => {},
      stderr: () => {},
    });
    expect(missing).toBe(2);
  });

  test('validate prints the verdict', async () => {
    const bad = join(fixture.dir, 'bad.yaml');
    await writeFile(bad, 'storage: [1, 2\n');
    const r = await client('validate', bad);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('Host Configuration is invalid\n');
    expect(r.stderr).toContain('INVALID_INPUT_ERROR:invalid-host-configuration:');
  });

  test('unsupported commands and bad usage exit 2', async () => {
    expect((await client('rebuild-raid')).stderr).toContain("Unimplemented command: 'client-rebuild-raid'");
    expect((await client('stream-disk')).code).toBe(2);
    expect((await client('--bogus')).code).toBe(2);
    expect((await client('install', '--allowed-operations', 'stage,reboot')).stderr).toContain(
      "unknown allowed operation 'reboot'",
    );
    expect((await client('update', '--allowed-operations', '')).stderr).toContain(
      'At least one allowed operation must be specified',
    );
  });

  test("commit, and install --allowed-operations finalize, report the daemon's refusal as the servicing error", async () => {
    const commit = await client('commit');
    expect(commit.code).toBe(2);
    expect(commit.stderr).toContain('Servicing failed with error: INVALID_INPUT_ERROR:host-not-provisioned:');
    // Finalize reads no Host Configuration: the daemon finalizes what its datastore says is staged.
    const finalize = await client('install', '/nonexistent.yaml', '--allowed-operations', 'finalize');
    expect(finalize.code).toBe(2);
    expect(finalize.stderr).toContain(
      'Servicing failed with error: INTERNAL_ERROR:unexpected-servicing-state:',
    );
  });
});
