import { spawn } from 'node:child_process';
import { lstatSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startDaemon } from './daemon.ts';
import { isDaemonError } from './errors.ts';
import { createLogger } from './logger.ts';
import { defaultDaemonOptions } from './options.ts';
import {
  collectStream,
  createTestClients,
  grpc,
  type TestClients,
  unary,
} from './test-support/grpc-test-client.ts';
import { startTestDaemon, type TestDaemon } from './test-support/test-daemon.ts';

const VALID_HC = `storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - id: esp
          type: esp
          size: 100M
        - id: root
          type: root
          size: 2G
  filesystems:
    - deviceId: esp
      mountPoint:
        path: /boot/efi
        options: umask=0077
    - deviceId: root
      mountPoint: /
image:
  url: http://example.com/image.cosi
  sha384: ignored
`;

describe('tridentd on a unix socket', () => {
  let t: TestDaemon;
  let clients: TestClients;
  beforeAll(async () => {
    t = await startTestDaemon();
    clients = createTestClients(t.socketPath);
  });
  afterAll(async () => {
    clients.close();
    expect(await t.close()).toBe(0);
  });

  test('Version returns our semver', async () => {
    const response = await unary(clients.version, 'Version', {});
    expect(response.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(response.version).toBe(t.daemon.version);
  });

  test('the socket is mode 0600 in a created parent directory', () => {
    const stat = lstatSync(t.socketPath);
    expect(stat.isSocket()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o600);
    expect(statSync(join(t.dir, 'run')).isDirectory()).toBe(true);
  });

  test('StreamDisk with a bad URL fails with INVALID_ARGUMENT before any message', async () => {
    const result = await collectStream(clients.streaming, 'StreamDisk', { image_url: 'not a url' });
    expect(result.messages).toEqual([]);
    expect(result.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(result.details).toBe("Invalid image URL 'not a url': relative URL without a base");
  });

  test('Install checks stage, stage.config and finalize in that order', async () => {
    const config = { config: VALID_HC };
    const cases: Array<[object, string]> = [
      [{}, 'Missing staging configuration'],
      [{ stage: {} }, 'Missing host configuration in staging configuration'],
      [{ stage: { config } }, 'Missing finalize configuration'],
    ];
    for (const [request, details] of cases) {
      const result = await collectStream(clients.install, 'Install', request);
      expect(result).toEqual({ messages: [], code: grpc.status.INVALID_ARGUMENT, details });
    }
  });

  test('Update checks stage, stage.config and finalize before any stream (the run: update.test.ts)', async () => {
    const missing = await collectStream(clients.update, 'Update', {
      stage: { config: { config: VALID_HC } },
    });
    expect(missing.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(missing.details).toBe('Missing finalize configuration');
    const stage = await collectStream(clients.update, 'UpdateStage', {});
    expect(stage.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(stage.details).toBe('Missing host configuration in staging configuration');
  });

  test('ValidateHostConfiguration accepts a valid document', async () => {
    const response = await unary(clients.validation, 'ValidateHostConfiguration', {
      config: { config: VALID_HC },
    });
    expect(response.ok).toBe(true);
    expect(response.error).toBeUndefined();
  });

  test('ValidateHostConfiguration reports an invalid one as INVALID_INPUT_ERROR', async () => {
    const response = await unary(clients.validation, 'ValidateHostConfiguration', {
      config: { config: 'storage: [1, 2\n' },
    });
    expect(response.ok ?? false).toBe(false);
    expect(response.error.kind).toBe('INVALID_INPUT_ERROR');
    expect(response.error.subkind).toBe('invalid-host-configuration');
    expect(response.error.message).toMatch(/^Trident failed due to invalid input/);
    const semantic = await unary(clients.validation, 'ValidateHostConfiguration', {
      config: { config: VALID_HC.replace('deviceId: root', 'deviceId: nowhere') },
    });
    expect(semantic.error.subkind).toBe('invalid-host-configuration');
    expect(semantic.error.message).toContain('nowhere');
  });

  test('StatusService answers from memory', async () => {
    expect(await unary(clients.status, 'GetServicingState', {})).toEqual({ state: 'NOT_PROVISIONED' });
    expect(await unary(clients.status, 'GetLastError', {})).toEqual({});
  });
});

/** A process that listens on `path` and is killed, leaving the socket file behind as a crash does. */
async function leaveStaleSocket(path: string): Promise<void> {
  const child = spawn(
    process.execPath,
    ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
}

describe('listener safety', () => {
  test('a stale socket is removed, a live one and a regular file are refused', async () => {
    const t = await startTestDaemon();
    const path = join(t.dir, 'second.sock');
    const logger = createLogger({ write: () => {} });
    // Live: the first daemon answers on its socket.
    await expect(
      startDaemon(defaultDaemonOptions({ socketPath: t.socketPath }), { logger, activation: null }),
    ).rejects.toSatisfy((e) => isDaemonError(e, 'DAEMON_SOCKET_IN_USE'));
    // Stale: a socket file nobody listens on any more.
    await leaveStaleSocket(path);
    expect(lstatSync(path).isSocket()).toBe(true);
    const second = await startDaemon(defaultDaemonOptions({ socketPath: path, inactivityTimeoutMs: 0 }), {
      logger,
      activation: null,
    });
    const clients = createTestClients(path);
    expect((await unary(clients.version, 'Version', {})).version).toBe(second.version);
    clients.close();
    second.stop();
    expect(await second.finished).toBe(0);
    expect(lstatSync(path, { throwIfNoEntry: false })).toBeUndefined();
    // Not a socket: never deleted.
    const file = join(t.dir, 'file.sock');
    await writeFile(file, 'keep me');
    await expect(
      startDaemon(defaultDaemonOptions({ socketPath: file }), { logger, activation: null }),
    ).rejects.toSatisfy((e) => isDaemonError(e, 'DAEMON_SOCKET_PATH_OCCUPIED'));
    expect(statSync(file).isFile()).toBe(true);
    expect(await t.close()).toBe(0);
  });

  test('TCP is used only when configured', async () => {
    const t = await startTestDaemon({ tcp: { host: '127.0.0.1', port: 0 } });
    expect(t.daemon.listeners).toHaveLength(2);
    const clients = createTestClients(`127.0.0.1:${t.daemon.tcpPort}`);
    expect((await unary(clients.version, 'Version', {})).version).toBe(t.daemon.version);
    clients.close();
    expect(await t.close()).toBe(0);
    const plain = await startTestDaemon();
    expect(plain.daemon.listeners).toEqual([`unix:${plain.socketPath}`]);
    expect(await plain.close()).toBe(0);
  });

  test('the daemon stops after the inactivity timeout and removes its socket', async () => {
    const t = await startTestDaemon({ inactivityTimeoutMs: 300 });
    const clients = createTestClients(t.socketPath);
    await unary(clients.version, 'Version', {});
    clients.close();
    expect(await t.daemon.finished).toBe(0);
    expect(lstatSync(t.socketPath, { throwIfNoEntry: false })).toBeUndefined();
    expect(t.logs.some((l) => l.includes('inactivity timeout reached'))).toBe(true);
    await t.close();
  });
});
