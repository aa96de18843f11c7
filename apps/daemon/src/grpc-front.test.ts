/**
 * The front door against requests our own clients never send: C-core authorities, unknown
 * methods, wrong content types, empty and oversized bodies, HTTP/1. Checked on the wire with a
 * raw node:http2 client, curl and grpc-js; after each the daemon must still answer.
 */
import { execFile, execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { componentAvailable } from '@trident/test-support/component';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FALLBACK_AUTHORITY, normaliseAuthority } from './grpc-front.ts';
import { createTestClients, grpc, type TestClients, unary } from './test-support/grpc-test-client.ts';
import { closeRaw, connectRaw, grpcFrame, grpcStatusOf, rawRequest } from './test-support/raw-h2.ts';
import { startTestDaemon, type TestDaemon } from './test-support/test-daemon.ts';

const exec = promisify(execFile);
const VERSION = '/trident.v1.VersionService/Version';
const GRPC = { 'content-type': 'application/grpc', te: 'trailers' };
/** An empty VersionRequest as one gRPC message. */
const EMPTY_MESSAGE = grpcFrame(new Uint8Array());

/** The version string inside a VersionResponse frame (field 1, length-delimited, short). */
function versionIn(body: Buffer): string {
  expect(body[0]).toBe(0);
  expect(body[5]).toBe(0x0a);
  return body.subarray(7, 7 + body[6]!).toString('utf8');
}

describe('normaliseAuthority', () => {
  test('keeps plain host names, replaces anything else with localhost', () => {
    for (const ok of ['localhost', 'example.com:50051', '127.0.0.1:8080', '[::1]:443', 'target'])
      expect(normaliseAuthority(ok)).toBe(ok);
    for (const bad of [
      undefined,
      '',
      'tmp%2Fx%2Ft.sock',
      '%2Frun%2Ftrident%2Ftrident.sock',
      'a b',
      'a/b',
      'ü.example',
      'host:99999999',
      '[zz::1]',
      'x'.repeat(300),
      'a@b',
    ])
      expect(normaliseAuthority(bad)).toBe(FALLBACK_AUTHORITY);
  });
});

describe('the front door of a live daemon', () => {
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

  /** The daemon answers Version through grpc-js and has not begun to stop. */
  async function expectAlive(): Promise<void> {
    expect((await unary(clients.version, 'Version', {})).version).toBe(t.daemon.version);
    const settled = await Promise.race([t.daemon.finished.then(() => true), Promise.resolve(false)]);
    expect(settled).toBe(false);
  }

  test('a percent-encoded socket path as :authority (what gRPC C-core sends) reaches Version', async () => {
    const session = connectRaw(t.socketPath);
    try {
      for (const authority of [
        'tmp%2Fx%2Ft.sock',
        'a%2Fb',
        '%2Frun%2Ftrident%2Ftrident.sock',
        'x'.repeat(2000),
      ]) {
        const response = await rawRequest(
          session,
          { ':path': VERSION, ':authority': authority, ...GRPC },
          EMPTY_MESSAGE,
        );
        expect(response.headers[':status']).toBe(200);
        expect(grpcStatusOf(response).status).toBe('0');
        expect(versionIn(response.body)).toBe(t.daemon.version);
      }
      // nghttp2 itself resets a stream whose :authority has a space: PROTOCOL_ERROR, no handler.
      const spaced = await rawRequest(
        session,
        { ':path': VERSION, ':authority': 'a b', ...GRPC },
        EMPTY_MESSAGE,
      );
      expect(spaced.rstCode).toBe(1);
    } finally {
      await closeRaw(session);
    }
    expect(
      t.logs.some((l) => l.includes('authority is not a host name') && l.includes('tmp%2Fx%2Ft.sock')),
    ).toBe(true);
    await expectAlive();
  });

  const curlAvailable = componentAvailable(
    (() => {
      try {
        return execFileSync('curl', ['--version']).includes('HTTP2');
      } catch {
        return false;
      }
    })(),
    'curl with HTTP/2',
    'curl (Debian package curl) is not on PATH or lacks HTTP/2',
  );
  test.skipIf(!curlAvailable)("the issue's reproduction: curl --unix-socket with Host: a%2Fb", async () => {
    const body = join(t.dir, 'version-request.bin');
    await writeFile(body, EMPTY_MESSAGE);
    const { stdout } = await exec('curl', [
      '-sS',
      '--max-time',
      '20',
      '--http2-prior-knowledge',
      '--unix-socket',
      t.socketPath,
      '-H',
      'Host: a%2Fb',
      '-H',
      'content-type: application/grpc',
      '-H',
      'te: trailers',
      '--data-binary',
      `@${body}`,
      '-D',
      '-',
      '-o',
      '/dev/null',
      `http://localhost${VERSION}`,
    ]).catch((error: { stdout?: string; stderr?: string }) => {
      throw new Error(`curl failed: ${error.stderr}`);
    });
    expect(stdout).toMatch(/^HTTP\/2 200/);
    expect(stdout).toMatch(/grpc-status: 0/);
    await expectAlive();
  });

  test('unknown services and methods answer 200 with grpc-status 12 and nothing else, as tonic', async () => {
    const session = connectRaw(t.socketPath);
    try {
      for (const path of [
        '/trident.v1.NoSuchService/Version',
        '/trident.v1.VersionService/NoSuchMethod',
        '/',
        '/x',
      ]) {
        const response = await rawRequest(session, { ':path': path, ...GRPC }, EMPTY_MESSAGE);
        expect(response.trailersOnly, path).toBe(true);
        expect(response.headers[':status']).toBe(200);
        expect(response.headers['content-type']).toBe('application/grpc');
        expect(response.headers['grpc-status']).toBe('12');
        expect(response.headers['grpc-message']).toBeUndefined();
        expect(response.body.length).toBe(0);
      }
    } finally {
      await closeRaw(session);
    }
    // A real gRPC client reads it as UNIMPLEMENTED (it read HTTP 404 as UNIMPLEMENTED too, but
    // C-core and tonic clients report "Received http2 header with status: 404").
    const client = new grpc.Client(`unix://${t.socketPath}`, grpc.credentials.createInsecure());
    const error = await new Promise<grpc.ServiceError>((resolve) =>
      client.makeUnaryRequest(
        '/trident.v1preview.NoSuchService/NoSuchMethod',
        (x: Buffer) => x,
        (x: Buffer) => x,
        Buffer.alloc(0),
        (e) => resolve(e as grpc.ServiceError),
      ),
    );
    client.close();
    expect(error.code).toBe(grpc.status.UNIMPLEMENTED);
    await expectAlive();
  });

  test('a known method is answered as gRPC whatever the content-type and HTTP method', async () => {
    const session = connectRaw(t.socketPath);
    try {
      for (const headers of [
        { 'content-type': 'application/json' },
        { 'content-type': 'application/grpc+json' },
        { 'content-type': 'text/plain; charset=utf-8' },
        {},
        { ':method': 'PUT', 'content-type': 'application/grpc' },
      ]) {
        const response = await rawRequest(session, { ':path': VERSION, ...headers }, EMPTY_MESSAGE);
        expect(response.headers[':status'], JSON.stringify(headers)).toBe(200);
        expect(response.headers['content-type']).toBe('application/grpc');
        expect(grpcStatusOf(response).status).toBe('0');
        expect(versionIn(response.body)).toBe(t.daemon.version);
      }
      // GET has no body: tonic's "Missing request message." (INTERNAL).
      const get = await rawRequest(session, { ':method': 'GET', ':path': VERSION });
      expect(grpcStatusOf(get)).toEqual({ status: '13', message: 'Missing request message.' });
    } finally {
      await closeRaw(session);
    }
  });

  test('empty, truncated, undecodable and oversized bodies get a gRPC status', async () => {
    const session = connectRaw(t.socketPath);
    try {
      const empty = await rawRequest(session, { ':path': VERSION, ...GRPC });
      expect(grpcStatusOf(empty)).toEqual({ status: '13', message: 'Missing request message.' });
      const truncated = await rawRequest(
        session,
        { ':path': VERSION, ...GRPC },
        Buffer.from([0, 0, 0, 0, 9, 1]),
      );
      expect(grpcStatusOf(truncated).status).not.toBe('0');
      const garbage = await rawRequest(
        session,
        { ':path': '/trident.v1.StreamingService/StreamDisk', ...GRPC },
        grpcFrame(Buffer.from([0xff, 0xff, 0xff, 0xff])),
      );
      expect(grpcStatusOf(garbage).status).toBe(String(grpc.status.INTERNAL));
      // 1 GiB announced, 5 bytes sent: refused from the header, nothing is buffered.
      const huge = Buffer.from([0, 0x40, 0, 0, 0, 1, 2, 3, 4, 5]);
      const oversized = await rawRequest(session, { ':path': VERSION, ...GRPC }, huge);
      expect(grpcStatusOf(oversized).status).toBe(String(grpc.status.RESOURCE_EXHAUSTED));
    } finally {
      await closeRaw(session);
    }
    await expectAlive();
  });

  test('request bodies the daemon does not read do not stall the connection', async () => {
    const session = connectRaw(t.socketPath);
    try {
      // 4 x 50 KB to an unknown method, then 70 KB after a valid message: well past the 64 KiB
      // connection window, so unconsumed DATA would block the Version that follows.
      for (let i = 0; i < 4; i++) {
        const unknown = await rawRequest(session, { ':path': '/nope/x', ...GRPC }, Buffer.alloc(50_000, 1));
        expect(unknown.headers['grpc-status']).toBe('12');
      }
      const junk = Buffer.concat([EMPTY_MESSAGE, Buffer.alloc(70_000, 1)]);
      expect(grpcStatusOf(await rawRequest(session, { ':path': VERSION, ...GRPC }, junk)).status).not.toBe(
        '0',
      );
      const version = await rawRequest(session, { ':path': VERSION, ...GRPC }, EMPTY_MESSAGE);
      expect(versionIn(version.body)).toBe(t.daemon.version);
    } finally {
      await closeRaw(session);
    }
  });

  test('an HTTP/1.1 request gets no HTTP/1 answer and only its connection is closed, as tonic', async () => {
    const received = await new Promise<Buffer>((resolve, reject) => {
      const socket = net.connect(t.socketPath);
      const chunks: Buffer[] = [];
      socket.on('data', (c) => chunks.push(c));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(chunks)));
      socket.end(
        `POST ${VERSION} HTTP/1.1\r\nHost: localhost\r\ncontent-type: application/grpc\r\ncontent-length: 5\r\n\r\n\0\0\0\0\0`,
      );
    });
    expect(received.toString('latin1')).not.toMatch(/HTTP\/1/);
    await expectAlive();
  });

  test('ValidateHostConfiguration without config is INVALID_ARGUMENT, as Trident', async () => {
    const error = await unary(clients.validation, 'ValidateHostConfiguration', {}).catch((e) => e);
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toBe('Missing host configuration in staging configuration');
    // A present but empty document is validated (and is not a valid Host Configuration).
    const empty = await unary(clients.validation, 'ValidateHostConfiguration', { config: { config: '' } });
    expect(empty.ok ?? false).toBe(false);
    expect(empty.error.kind).toBe('INVALID_INPUT_ERROR');
  });
});
