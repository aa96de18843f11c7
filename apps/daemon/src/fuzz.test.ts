/**
 * Acceptance fuzz: 1,000 random HTTP/2 requests (test-support/h2-fuzz.ts) on the socket of a real
 * `tridentd` process while a StreamDisk runs. The daemon must never exit, answer every request it
 * got whole with HTTP 200 and a grpc-status (or have nghttp2 reset it), keep its memory bounded,
 * give the running StreamDisk its Completed, and answer Version afterwards.
 *
 * Seeded: DAEMON_FUZZ_SEED=<n> reproduces a run (the seed is printed and in every failure);
 * DAEMON_FUZZ_REQUESTS changes the count.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type CosiFixture, createCosiFixture } from './test-support/cosi-fixture.ts';
import {
  createTestClients,
  kindOf,
  startStream,
  type TestClients,
  unary,
} from './test-support/grpc-test-client.ts';
import { createRandom, type FuzzCase, fuzzCase } from './test-support/h2-fuzz.ts';
import { connectRaw } from './test-support/raw-h2.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const REQUESTS = Number(process.env['DAEMON_FUZZ_REQUESTS'] ?? 1000);
const SEED = Number(process.env['DAEMON_FUZZ_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const CONCURRENCY = 8;
/** A request the fuzz finished sending must end (answer or reset) within this. */
const REQUEST_TIMEOUT_MS = 20_000;
const MiB = 1024 * 1024;

let fixture: CosiFixture;
let daemon: ChildProcess;
let stderr = '';
const warnings: string[] = [];
let socketPath: string;
let clients: TestClients;

/** VmRSS and VmHWM (peak) of a process, in bytes. */
async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

beforeAll(async () => {
  fixture = await createCosiFixture({ slowRate: '250k' });
  socketPath = join(fixture.dir, 'trident.sock');
  daemon = spawn(
    process.execPath,
    [
      '--conditions=@trident/source',
      MAIN,
      '--socket-path',
      socketPath,
      '--inactivity-timeout',
      '0',
      '--stream-target',
      join(fixture.dir, 'target.img'),
      // Never the host's datastore or a real reboot, whatever a request might start.
      '--datastore',
      join(fixture.dir, 'datastore.sqlite'),
      '--reboot-command',
      'false',
      '-v',
      'debug',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let partial = '';
  daemon.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-256 * 1024);
    // Warnings and errors are kept whole: the debug log of 1,000 requests outgrows the tail.
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (/^level=(warn|error) /.test(line)) warnings.push(line);
  });
  const deadline = Date.now() + 30_000;
  while (!stderr.includes('tridentd listening')) {
    if (daemon.exitCode !== null || Date.now() > deadline)
      throw new Error(`tridentd did not start:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  clients = createTestClients(socketPath);
}, 120_000);

afterAll(async () => {
  clients?.close();
  if (daemon !== undefined && daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
  await fixture?.cleanup();
});

type Outcome = 'answered' | 'reset-by-server' | 'client-ended' | 'not-sent' | 'raw';

/** Sends one case on `session`; resolves with how it ended, rejects on a protocol-level surprise. */
function send(session: http2.ClientHttp2Session, c: FuzzCase): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(c.headers, { endStream: false });
    } catch {
      // node's client refused to send these headers: nothing reached the daemon.
      resolve('not-sent');
      return;
    }
    let headers: http2.IncomingHttpHeaders | undefined;
    let trailers: http2.IncomingHttpHeaders | undefined;
    let trailersOnly = false;
    const timer = setTimeout(() => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      reject(
        new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms: ${JSON.stringify(c.headers).slice(0, 500)}`),
      );
    }, REQUEST_TIMEOUT_MS);
    stream.on('response', (h, flags) => {
      headers = h;
      trailersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on('trailers', (t) => {
      trailers = t;
    });
    stream.on('data', () => {});
    stream.on('error', () => {});
    stream.on('close', () => {
      clearTimeout(timer);
      if (c.ending.kind !== 'complete') return resolve('client-ended');
      // nghttp2 resets what breaks HTTP/2 rules (a content-length that lies, a bad header), also
      // after the handler sent headers; the daemon's own resets are logged and checked below.
      if (headers === undefined || (stream.rstCode ?? 0) !== 0) return resolve('reset-by-server');
      const status = (trailersOnly ? headers : trailers)?.['grpc-status'];
      if (Number(headers[':status']) !== 200 || status === undefined)
        return reject(
          new Error(
            `answered HTTP ${headers[':status']} without a gRPC status (${JSON.stringify({ headers, trailers })}) to ${JSON.stringify(c.headers).slice(0, 500)}`,
          ),
        );
      resolve('answered');
    });
    const { ending } = c;
    if (ending.kind === 'complete') stream.end(c.body);
    else if (ending.kind === 'reset' || ending.kind === 'drop') {
      stream.write(c.body.subarray(0, ending.afterBytes));
      const code = ending.kind === 'reset' ? ending.code : undefined;
      setTimeout(
        () => {
          if (code !== undefined) stream.close(code);
          else session.destroy();
        },
        Math.floor(Math.random() * 5),
      );
    }
  });
}

/** Writes the bytes of a raw case on a fresh socket and waits for the daemon to close it. */
function sendRaw(bytes: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    const timer = setTimeout(() => socket.destroy(), 3_000);
    socket.on('error', () => {});
    socket.on('data', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve('raw');
    });
    socket.end(bytes);
  });
}

test(`tridentd survives ${REQUESTS} random HTTP/2 requests (seed ${SEED}) and still answers`, async () => {
  console.log(`daemon fuzz: seed ${SEED} (DAEMON_FUZZ_SEED=${SEED} reproduces it), ${REQUESTS} requests`);
  const pid = daemon.pid!;
  expect((await unary(clients.version, 'Version', {})).version).toMatch(/^\d+\.\d+\.\d+/);
  const before = await memoryOf(pid);

  // A real operation in flight while the fuzz starts (~10 s at this rate): it must get its Completed.
  const inflight = startStream(clients.streaming, 'StreamDisk', {
    image_url: fixture.slowUrl,
    image_hash: `sha384:${fixture.metadataSha384}`,
    reboot: { handling: 'CALLER_HANDLES_REBOOT' },
  });

  const random = createRandom(SEED);
  const cases = Array.from({ length: REQUESTS }, () => fuzzCase(random));
  const outcomes: Record<Outcome, number> = {
    answered: 0,
    'reset-by-server': 0,
    'client-ended': 0,
    'not-sent': 0,
    raw: 0,
  };
  let session = connectRaw(socketPath);
  let next = 0;
  let peakDuring = before.peak;
  const worker = async () => {
    while (next < cases.length) {
      const index = next++;
      const c = cases[index]!;
      if (index % 50 === 0) peakDuring = Math.max(peakDuring, (await memoryOf(pid)).rss);
      if (c.ending.kind === 'raw-frames') {
        outcomes[await sendRaw(c.ending.bytes)]++;
        continue;
      }
      // A fresh connection every 40 cases and whenever one was refused by the daemon; a case that
      // drops its connection gets one of its own, so it cuts no other worker's requests.
      if (session.destroyed || session.closed || index % 40 === 0) session = connectRaw(socketPath);
      const own = c.ending.kind === 'drop' ? connectRaw(socketPath) : session;
      const outcome = await send(own, c).catch((error: Error) => {
        throw new Error(`case ${index} (seed ${SEED}): ${error.message}`);
      });
      outcomes[outcome]++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  session.destroy();
  console.log(`daemon fuzz outcomes: ${JSON.stringify(outcomes)}`);

  expect(daemon.exitCode, `tridentd exited during the fuzz (seed ${SEED}):\n${stderr}`).toBeNull();
  expect(daemon.signalCode).toBeNull();
  // Enough cases must get through nghttp2 to the handlers for the fuzz to mean something.
  expect(outcomes.answered).toBeGreaterThan(REQUESTS * 0.3);
  // No handler failed, nothing went wrong in the daemon itself.
  expect(warnings, `daemon warnings (seed ${SEED})`).toEqual([]);
  expect((await unary(clients.version, 'Version', {})).version).toMatch(/^\d+\.\d+\.\d+/);

  const result = await inflight.result;
  expect(result.code, `in-flight StreamDisk (seed ${SEED})`).toBe(0);
  const last = result.messages.at(-1);
  expect(kindOf(last)).toBe('completed');
  expect(last.completed.status).toBe('STATUS_CODE_SUCCESS');

  // Memory: no growth per request. The StreamDisk itself needs its buffers; the fuzz on top of
  // it may not add more than a bounded amount, and what stays after it is small.
  const after = await memoryOf(pid);
  console.log(
    `daemon fuzz memory: rss ${Math.round(before.rss / MiB)} MiB before, ${Math.round(after.rss / MiB)} MiB after, peak ${Math.round(Math.max(after.peak, peakDuring) / MiB)} MiB`,
  );
  expect(after.peak, `peak RSS (seed ${SEED})`).toBeLessThan(before.rss + 512 * MiB);
  expect(after.rss, `RSS after the fuzz (seed ${SEED})`).toBeLessThan(before.rss + 256 * MiB);

  // Still a well-behaved daemon: SIGTERM stops it with 0 and the socket is removed.
  const exited = new Promise<number | null>((resolve) => daemon.once('exit', (code) => resolve(code)));
  daemon.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(existsSync(socketPath)).toBe(false);
}, 600_000);
