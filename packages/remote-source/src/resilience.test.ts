import { createHash } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  type Fault,
  type FaultServer,
  patternBytes,
  startFaultServer,
} from '@trident/test-support/fault-server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CHANNEL_RETRY, type RetryEvent } from './diagnostics.ts';
import { openHttpSource } from './http-source.ts';

const GiB = 1024 * 1024 * 1024;
/** The largest chunk the reader hands out (undici's body highWaterMark). */
const READ_BUFFER = 64 * 1024;

let server: FaultServer;
beforeAll(async () => {
  server = await startFaultServer({ size: GiB, seed: 42 });
});
afterAll(async () => {
  await server?.stop();
});

/** Deterministic "random" offsets so a failure can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

it('streams 1 GiB byte-exact through 20 injected resets and stalls, re-fetching at most one read buffer per fault', async () => {
  const random = prng(2024);
  const faults: Fault[] = [];
  for (let i = 0; i < 20; i++) {
    const after = Math.floor(1024 * 1024 + random() * 40 * 1024 * 1024);
    faults.push(i % 2 === 0 ? { kind: 'reset', after } : { kind: 'stall', after });
  }
  server.inject(...faults);
  const retries: RetryEvent[] = [];
  const onRetry = (event: unknown) => retries.push(event as RetryEvent);
  subscribe(CHANNEL_RETRY, onRetry);
  const source = await openHttpSource(new URL(`${server.url}/big.cosi`), {
    idleTimeoutMs: 250,
    retry: { baseDelayMs: 10, maxDelayMs: 100 },
  });
  const started = performance.now();
  const hash = createHash('sha256');
  let received = 0;
  let largest = 0;
  try {
    for await (const chunk of source.stream(0, GiB)) {
      hash.update(chunk);
      received += chunk.length;
      largest = Math.max(largest, chunk.length);
    }
  } finally {
    unsubscribe(CHANNEL_RETRY, onRetry);
    await source.close();
  }
  const seconds = (performance.now() - started) / 1000;
  // Measured figures, for the README and the report.
  console.info(
    `1 GiB with 20 faults: ${seconds.toFixed(1)} s, ${(GiB / 2 ** 20 / seconds).toFixed(0)} MiB/s, ` +
      `${server.requests.length} GETs, re-fetched ${server.requests.reduce((n, r) => n + r.bytesSent, 0) - GiB} bytes, largest chunk ${largest}`,
  );
  expect(received).toBe(GiB);
  expect(retries.length).toBe(20);

  const expected = createHash('sha256');
  for (let offset = 0; offset < GiB; offset += 16 * 1024 * 1024)
    expected.update(patternBytes(offset, 16 * 1024 * 1024, 42));
  expect(hash.digest('hex')).toBe(expected.digest('hex'));

  const gets = server.requests.filter((r) => r.method === 'GET');
  expect(gets.length).toBe(21);
  // Client side: every resume asks for exactly the first byte not yet delivered.
  expect(gets.slice(1).map((r) => Number(/bytes=(\d+)-/.exec(r.range ?? '')?.[1]))).toEqual(
    retries.map((e) => e.resumeOffset),
  );
  const sent = gets.reduce((sum, r) => sum + r.bytesSent, 0);
  const refetched = sent - GiB;
  expect(largest).toBeLessThanOrEqual(READ_BUFFER);
  expect(refetched).toBeLessThanOrEqual(20 * READ_BUFFER);
}, 240_000);
