/**
 * StreamDisk end to end: the real engine streams a COSI served by nginx into a disk-image file
 * (the daemon's --stream-target facility); checked through an independent grpc-js client.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type CosiFixture, createCosiFixture } from './test-support/cosi-fixture.ts';
import {
  collectStream,
  createTestClients,
  grpc,
  kindOf,
  startStream,
  type TestClients,
  unary,
} from './test-support/grpc-test-client.ts';
import { startTestDaemon, type TestDaemon } from './test-support/test-daemon.ts';

let fixture: CosiFixture;
let t: TestDaemon;
let clients: TestClients;
let target: string;

beforeAll(async () => {
  fixture = await createCosiFixture({ slowRate: '600k' });
  target = join(fixture.dir, 'target.img');
  // StreamDisk writes into `target` (the daemon's dev/test facility) instead of a real disk.
  t = await startTestDaemon({ streamTarget: { kind: 'image-file', path: target, overwrite: true } });
  clients = createTestClients(t.socketPath);
});
afterAll(async () => {
  clients?.close();
  await t?.close();
  await fixture?.cleanup();
});

/** Started, then only Log messages, then exactly one Completed last. */
function expectSequence(messages: any[]): any {
  expect(messages.length).toBeGreaterThanOrEqual(2);
  expect(kindOf(messages[0])).toBe('started');
  for (const m of messages.slice(1, -1)) expect(kindOf(m)).toBe('log');
  const last = messages.at(-1);
  expect(kindOf(last)).toBe('completed');
  for (const m of messages) expect(m.timestamp.seconds).toBeGreaterThan(0);
  return last.completed;
}

describe('StreamDisk into a disk-image file', () => {
  test('Started, Logs with progress, one Completed SUCCESS, then OK', async () => {
    const result = await collectStream(clients.streaming, 'StreamDisk', {
      image_url: fixture.url,
      image_hash: `sha384:${fixture.metadataSha384}`,
      reboot: { handling: 'CALLER_HANDLES_REBOOT' },
    });
    expect(result.code).toBe(grpc.status.OK);
    const completed = expectSequence(result.messages);
    expect(completed).toEqual({
      status: 'STATUS_CODE_SUCCESS',
      // A disk-image file needs no reboot; a real disk reports REBOOT_REQUIRED/STARTED (reboot.test.ts).
      reboot_status: 'REBOOT_NOT_REQUIRED',
      image_hash: `sha384:${fixture.metadataSha384}`,
      servicing_kind: 'SERVICING_KIND_CLEAN_INSTALL',
      _image_hash: 'image_hash',
      _servicing_kind: 'servicing_kind',
    });
    const logs = result.messages.filter((m) => kindOf(m) === 'log').map((m) => m.log);
    expect(logs[0]).toMatchObject({ level: 'LOG_LEVEL_INFO', module: 'trident::engine', target: 'trident' });
    expect(logs[0].message).toMatch(/^Running Trident version: \d+\.\d+\.\d+/);
    const progress = logs.filter((l) => l.target === 'trident::engine::progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.some((l) => / 100% /.test(l.message))).toBe(true);
    for (const l of logs) expect(l.module).toBe('trident::engine');
    // The image file now holds the disk: a protective MBR and a GPT header at LBA 1.
    const head = (await readFile(target)).subarray(0, 1024);
    expect(head.readUInt16LE(510)).toBe(0xaa55);
    expect(head.subarray(512, 520).toString('latin1')).toBe('EFI PART');
    expect((await stat(target)).size).toBeGreaterThanOrEqual(fixture.diskSize);
  });

  test('an absent hash means "ignored" and image_hash is still reported', async () => {
    const result = await collectStream(clients.streaming, 'StreamDisk', { image_url: fixture.url });
    const completed = expectSequence(result.messages);
    expect(completed.status).toBe('STATUS_CODE_SUCCESS');
    expect(completed.image_hash).toBe(`sha384:${fixture.metadataSha384}`);
  });

  test('a failing image ends with Completed FAILURE, kind and subkind, and status OK', async () => {
    const result = await collectStream(clients.streaming, 'StreamDisk', { image_url: fixture.junkUrl });
    expect(result.code).toBe(grpc.status.OK);
    const completed = expectSequence(result.messages);
    expect(completed.status).toBe('STATUS_CODE_FAILURE');
    expect(completed.reboot_status).toBe('REBOOT_NOT_REQUIRED');
    expect(completed.image_hash).toBeUndefined();
    expect(completed.servicing_kind).toBeUndefined();
    expect(completed.error).toMatchObject({ kind: 'INVALID_INPUT_ERROR', subkind: 'load-cosi' });
    expect(completed.error.error_message).toContain(fixture.junkUrl);
    expect(completed.error.message).toMatch(/^Trident failed due to invalid input\n\nContext:\n {2}0: /);
  });

  test('a wrong metadata hash fails as load-cosi; a bare hex hash is an unsupported hash kind', async () => {
    const wrong = await collectStream(clients.streaming, 'StreamDisk', {
      image_url: fixture.url,
      image_hash: `sha384:${'0'.repeat(96)}`,
    });
    expect(expectSequence(wrong.messages).error).toMatchObject({
      kind: 'INVALID_INPUT_ERROR',
      subkind: 'load-cosi',
    });
    const bare = await collectStream(clients.streaming, 'StreamDisk', {
      image_url: fixture.url,
      image_hash: fixture.metadataSha384,
    });
    const completed = expectSequence(bare.messages);
    expect(completed.error).toMatchObject({
      kind: 'INVALID_INPUT_ERROR',
      subkind: 'unsupported-hash-kind',
      error_message: `Hash '${fixture.metadataSha384}' has unsupported hash kind. Expected 'ignored' or 'sha384:' prefix.`,
    });
  });

  test('a second request while one runs gets UNAVAILABLE "Trident is busy"; Version still answers', async () => {
    const first = startStream(clients.streaming, 'StreamDisk', { image_url: fixture.slowUrl });
    await waitFor(() => first.messages.length > 1);
    const second = await collectStream(clients.streaming, 'StreamDisk', { image_url: fixture.url });
    expect(second).toEqual({ messages: [], code: grpc.status.UNAVAILABLE, details: 'Trident is busy' });
    const install = await collectStream(clients.install, 'Install', {
      stage: { config: { config: 'x: 1' } },
      finalize: {},
    });
    expect(install.code).toBe(grpc.status.UNAVAILABLE);
    await expect(unary(clients.status, 'GetServicingState', {})).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
      details: 'Servicing is active',
    });
    expect((await unary(clients.version, 'Version', {})).version).toBe(t.daemon.version);
    const done = await first.result;
    expect(expectSequence(done.messages).status).toBe('STATUS_CODE_SUCCESS');
    // The lock is free again.
    expect(
      expectSequence(
        (await collectStream(clients.streaming, 'StreamDisk', { image_url: fixture.url })).messages,
      ).status,
    ).toBe('STATUS_CODE_SUCCESS');
  });

  test('a client that goes away does not stop the run; others get "Servicing is active" until it ends', async () => {
    const first = startStream(clients.streaming, 'StreamDisk', { image_url: fixture.slowUrl });
    await waitFor(() => first.messages.length > 1);
    first.call.cancel();
    await waitFor(() => t.logs.some((l) => l.includes('client went away')));
    const second = await collectStream(clients.streaming, 'StreamDisk', { image_url: fixture.url });
    expect(second).toEqual({ messages: [], code: grpc.status.UNAVAILABLE, details: 'Servicing is active' });
    await t.daemon.manager.current?.done;
    const outcome = t.logs.filter((l) => l.includes('servicing finished')).at(-1) ?? '';
    expect(outcome).toContain('status=success');
    expect(outcome).toContain('client=gone');
  });
});

describe('StreamDisk with --cancel-on-disconnect', () => {
  test('a client that goes away cancels the run and frees the lock', async () => {
    const d = await startTestDaemon({
      cancelOnDisconnect: true,
      streamTarget: { kind: 'image-file', path: join(fixture.dir, 'c.img'), overwrite: true },
    });
    const c = createTestClients(d.socketPath);
    try {
      const first = startStream(c.streaming, 'StreamDisk', { image_url: fixture.slowUrl });
      await waitFor(() => first.messages.length > 1);
      first.call.cancel();
      await waitFor(() => d.logs.some((l) => l.includes('servicing finished')), 20_000);
      const outcome = d.logs.find((l) => l.includes('servicing finished')) ?? '';
      expect(outcome).toContain('status=failure');
      expect(d.daemon.manager.current).toBeUndefined();
      const again = await collectStream(c.streaming, 'StreamDisk', { image_url: fixture.url });
      expect(expectSequence(again.messages).status).toBe('STATUS_CODE_SUCCESS');
    } finally {
      c.close();
      await d.close();
    }
  });
});

describe('stopping while an operation runs', () => {
  test.each([
    ['finish', 'STATUS_CODE_SUCCESS'],
    ['abort', 'STATUS_CODE_FAILURE'],
  ] as const)(
    '--on-stop %s: the client gets Completed %s and the daemon exits 0',
    async (stopMode, status) => {
      const d = await startTestDaemon({
        stopMode,
        streamTarget: {
          kind: 'image-file',
          path: join(fixture.dir, `stop-${stopMode}.img`),
          overwrite: true,
        },
      });
      const c = createTestClients(d.socketPath);
      try {
        const run = startStream(c.streaming, 'StreamDisk', { image_url: fixture.slowUrl });
        await waitFor(() => run.messages.length > 1);
        d.daemon.stop('signal');
        const result = await run.result;
        expect(result.code).toBe(grpc.status.OK);
        const completed = expectSequence(result.messages);
        expect(completed.status).toBe(status);
        if (stopMode === 'abort')
          expect(completed.error).toMatchObject({ kind: 'SERVICING_ERROR', subkind: 'cancelled' });
        expect(await d.daemon.finished).toBe(0);
      } finally {
        c.close();
        await d.close();
      }
    },
  );
});

async function waitFor(predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
