import { patternBytes } from '@trident/test-support/fault-server';
import { type HostileServer, startHostileHttp } from '@trident/test-support/hostile-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteSourceError } from './errors.ts';
import { openHttpSource } from './http-source.ts';
import { openSource } from './open-source.ts';
import { hostile, SECONDS } from './test-support/hostile-fixtures.ts';
import type { HttpOptions, RandomAccessSource } from './types.ts';

// Hostile servers on loopback. Every test configures small limits so it ends in seconds, and
// checks that the client's memory stayed bounded whatever the server sent.
const MiB = 1024 * 1024;
const MEMORY_BOUND = 64 * MiB;
const fast: HttpOptions = { retry: { baseDelayMs: 5, maxDelayMs: 20 }, idleTimeoutMs: 2000 };

let server: HostileServer;
const url = (path: string) => new URL(`${server.url}${path}`);

beforeAll(async () => {
  server = await startHostileHttp();
});
afterAll(async () => {
  await server?.stop();
});

async function readAll(source: RandomAccessSource, offset: number, length: number): Promise<number> {
  let total = 0;
  try {
    for await (const chunk of source.stream(offset, length)) total += chunk.length;
  } finally {
    await source.close();
  }
  return total;
}

describe('minimum throughput', () => {
  it('ends a trickling server with REMOTE_TOO_SLOW naming the limit, its value and the URL', async () => {
    // 50 bytes every 25 ms (2 KB/s) for a 1 MiB object: 9 minutes without a throughput floor.
    server.route('/trickle.cosi', { kind: 'trickle', size: MiB, bytesPerTick: 50, tickMs: 25 });
    const options = {
      ...fast,
      minBytesPerSecond: 64 * 1024,
      throughputWindowMs: 300,
      retry: { attempts: 2 },
    };
    const result = await hostile(async () =>
      readAll(await openHttpSource(url('/trickle.cosi'), options), 0, MiB),
    );
    expect(result.error.code).toBe('REMOTE_TOO_SLOW');
    expect(result.error.message).toContain('minBytesPerSecond 65536');
    expect(result.error.message).toContain('64 KiB/s');
    expect(result.error.message).toContain(`${server.url}/trickle.cosi`);
    // 3 windows of 300 ms plus backoff.
    expect(result.elapsedMs).toBeLessThan(SECONDS);
    expect(result.rss).toBeLessThan(MEMORY_BOUND);
  });

  it('does not count time the consumer spends on a chunk against the server', async () => {
    server.route('/steady.cosi', { kind: 'trickle', size: 256 * 1024, bytesPerTick: 64 * 1024, tickMs: 1 });
    const source = await openHttpSource(url('/steady.cosi'), {
      ...fast,
      minBytesPerSecond: 128 * 1024,
      throughputWindowMs: 100,
      retry: { attempts: 0 },
    });
    let total = 0;
    try {
      for await (const chunk of source.stream(0, source.size)) {
        total += chunk.length;
        await new Promise((resolve) => setTimeout(resolve, 150)); // a slow disk, not a slow server
      }
    } finally {
      await source.close();
    }
    expect(total).toBe(256 * 1024);
  });

  it('ends a 1 byte/s server with REMOTE_TIMEOUT at the overall deadline, naming it', async () => {
    server.route('/one-byte.cosi', { kind: 'trickle', size: MiB, bytesPerTick: 1, tickMs: 1000 });
    const result = await hostile(async () =>
      readAll(
        await openHttpSource(url('/one-byte.cosi'), { ...fast, minBytesPerSecond: 0, timeoutMs: 800 }),
        0,
        MiB,
      ),
    );
    expect(result.error.code).toBe('REMOTE_TIMEOUT');
    expect(result.error.message).toContain('timeoutMs 800');
    expect(result.error.message).toContain(`${server.url}/one-byte.cosi`);
    expect(result.elapsedMs).toBeLessThan(SECONDS);
  });

  it('puts the deadline on a server that never finishes its headers', async () => {
    server.route('/slow-headers.cosi', { kind: 'slow-headers', tickMs: 50 });
    const result = await hostile(() =>
      openSource(url('/slow-headers.cosi').href, { ...fast, headersTimeoutMs: 60_000, timeoutMs: 700 }),
    );
    expect(result.error.code).toBe('REMOTE_TIMEOUT');
    expect(result.elapsedMs).toBeLessThan(SECONDS);
  });
});

describe('retry budget per source', () => {
  it('does not renew the resume budget with every read of a server that stalls after each few bytes', async () => {
    server.route('/stall.cosi', { kind: 'stall-after', size: 64 * 1024, after: 1024 });
    const source = await openHttpSource(url('/stall.cosi'), {
      idleTimeoutMs: 100,
      retry: { attempts: 100, maxResumes: 5, baseDelayMs: 1, maxDelayMs: 5 },
      minBytesPerSecond: 0,
    });
    try {
      // 4 KiB at 1 KiB per response: 3 resumes. A second read needs 3 more; only 2 are left.
      const first = await source.read(0, 4096);
      expect(Buffer.from(first).equals(patternBytes(0, 4096, 1))).toBe(true);
      const started = performance.now();
      let error: unknown;
      try {
        await source.read(8192, 4096);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(RemoteSourceError);
      expect((error as RemoteSourceError).code).toBe('REMOTE_RETRIES_EXHAUSTED');
      expect((error as RemoteSourceError).message).toContain('retry.maxResumes 5');
      // Two idle timeouts (undici's timer resolution makes each about a second), not three.
      expect(performance.now() - started).toBeLessThan(SECONDS);
    } finally {
      await source.close();
    }
  });

  it('counts a trickle as no progress, so it ends after retry.attempts windows', async () => {
    server.route('/dribble.cosi', { kind: 'trickle', size: MiB, bytesPerTick: 100, tickMs: 10 });
    const result = await hostile(async () =>
      readAll(
        await openHttpSource(url('/dribble.cosi'), {
          ...fast,
          minBytesPerSecond: 100_000,
          throughputWindowMs: 200,
          retry: { attempts: 3, maxResumes: 100, baseDelayMs: 1, maxDelayMs: 5 },
        }),
        0,
        MiB,
      ),
    );
    expect(result.error.code).toBe('REMOTE_TOO_SLOW');
    expect(result.error.message).toContain('retry.attempts 3');
    expect(result.elapsedMs).toBeLessThan(SECONDS);
  });
});

describe('lies and tricks', () => {
  it('fails at once, without retrying, on an impossible Content-Length', async () => {
    for (const value of ['99999999999999999999999', '1152921504606846976', '-5', '12, 13']) {
      const path = `/length-${encodeURIComponent(value)}.cosi`;
      server.route(path, { kind: 'content-length', value });
      const before = server.requests.length;
      const result = await hostile(() => openSource(url(path).href, fast));
      expect(result.error.code).toBe('REMOTE_BAD_RESPONSE');
      expect(result.error.message).toContain(path);
      expect(result.retries).toBe(0);
      // HEAD, maybe the ranged GET of the probe: never the 6 retries of a transient fault.
      expect(server.requests.length - before).toBeLessThanOrEqual(2);
    }
  });

  it('refuses redirects to file: and data: URLs at once', async () => {
    for (const location of ['file:///etc/passwd', 'data:application/octet-stream;base64,AAAA', 'ftp://x/y']) {
      const path = `/redirect-${location.slice(0, 4)}.cosi`;
      server.route(path, { kind: 'redirect', location });
      const before = server.requests.length;
      const result = await hostile(() => openSource(url(path).href, fast));
      expect(result.error.code).toBe('REMOTE_BAD_REDIRECT');
      expect(result.retries).toBe(0);
      expect(result.error.message).toContain(location.slice(0, 5));
      expect(server.requests.length - before).toBe(1);
    }
  });

  it('reads at most a little of an endless or trickling error body', async () => {
    server.route('/endless-404.cosi', { kind: 'endless', status: 404 });
    const endless = await hostile(() => openSource(url('/endless-404.cosi').href, fast));
    expect(endless.error.code).toBe('REMOTE_NOT_FOUND');
    expect(endless.rss).toBeLessThan(MEMORY_BOUND);
    expect(endless.elapsedMs).toBeLessThan(SECONDS);
    server.route('/trickle-403.cosi', { kind: 'endless', status: 403, bytesPerTick: 1, tickMs: 50 });
    const trickle = await hostile(() => openSource(url('/trickle-403.cosi').href, fast));
    expect(trickle.error.code).toBe('REMOTE_ACCESS_DENIED');
    expect(trickle.elapsedMs).toBeLessThan(SECONDS);
  });

  it('suggests http:// at once when an https:// URL reaches a plain-HTTP server', async () => {
    server.route('/plain.cosi', { kind: 'fixed', status: 200, body: 'x' });
    const https = `https://127.0.0.1:${server.port}/plain.cosi`;
    const result = await hostile(() => openSource(https, { retry: { attempts: 6, baseDelayMs: 500 } }));
    expect(result.error.code).toBe('REMOTE_TLS');
    expect(result.error.message).toContain('plain-HTTP');
    expect(result.retries).toBe(0);
  });

  it('rejects invalid limit options with a coded error', async () => {
    const result = await hostile(() => openSource(url('/plain.cosi').href, { minBytesPerSecond: -1 }));
    expect(result.error.code).toBe('REMOTE_INVALID_OPTION');
  });
});
