import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError } from './cli-error.ts';
import { durationFlag, parseRate, remoteOptions, sourceFlags } from './source-options.ts';

function usageError(run: () => unknown): CliError {
  try {
    run();
  } catch (error) {
    if (error instanceof CliError) return error;
    throw error;
  }
  throw new Error('expected a CliError');
}

describe('remote source flags', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trident-source-options-'));
    await writeFile(join(dir, 'ca.pem'), 'PEM');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('turns every flag into the typed openSource options', () => {
    const previous = process.env['TRIDENT_REGISTRY_PASSWORD'];
    process.env['TRIDENT_REGISTRY_PASSWORD'] = 'pw';
    try {
      const options = remoteOptions(
        sourceFlags({
          'ca-file': join(dir, 'ca.pem'),
          header: ['X-Trace: abc ', 'Authorization: Bearer t'],
          'plain-http': true,
          platform: 'linux/arm64/v8',
          username: 'ci',
          'password-stdin': false,
          'min-throughput': '64KiB/s',
          'throughput-window': '10s',
          timeout: '10m',
        }),
      );
      expect({ ...options, ca: String(options.ca) }).toEqual({
        ca: 'PEM',
        headers: { 'x-trace': 'abc', authorization: 'Bearer t' },
        plainHttp: true,
        platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
        minBytesPerSecond: 65536,
        throughputWindowMs: 10_000,
        timeoutMs: 600_000,
        credentials: { username: 'ci', password: 'pw' },
      });
    } finally {
      if (previous === undefined) delete process.env['TRIDENT_REGISTRY_PASSWORD'];
      else process.env['TRIDENT_REGISTRY_PASSWORD'] = previous;
    }
  });

  it('adds nothing for flags not given', () => {
    expect(remoteOptions(sourceFlags({ header: [], 'plain-http': false, 'password-stdin': false }))).toEqual(
      {},
    );
  });

  it.each([
    ['64KiB', 65536],
    ['64 KiB/s', 65536],
    ['1M', 1048576],
    ['1MB/s', 1048576],
    ['1.5K', 1536],
    ['512', 512],
    ['0', 0],
  ])('reads the rate %s', (text, bytes) => {
    expect(parseRate(text, '--min-throughput')).toBe(bytes);
  });

  it.each([
    ['30s', 30_000],
    ['10m', 600_000],
    ['10min', 600_000],
    ['1.5h', 5_400_000],
    ['500ms', 500],
    ['45', 45_000],
    ['0', 0],
    ['none', 0],
  ])('reads the duration %s', (text, ms) => {
    expect(durationFlag(text, '--timeout')).toBe(ms);
  });

  it.each([
    [{ 'min-throughput': 'fast' }, '--min-throughput'],
    [{ 'min-throughput': '-1K' }, '--min-throughput'],
    [{ timeout: '10x' }, '--timeout'],
    [{ timeout: '' }, '--timeout'],
    [{ 'throughput-window': '0' }, '--throughput-window'],
    [{ platform: 'linux' }, '--platform'],
    [{ platform: 'linux/arm64/v8/extra' }, '--platform'],
    [{ header: ['no colon'] }, '--header'],
    [{ header: ['Bad Name: x'] }, '--header'],
    [{ 'password-stdin': true }, '--username'],
    [{ username: '' }, '--username'],
  ])('refuses %o with exit 2 naming %s', (values, flag) => {
    const error = usageError(() => remoteOptions(sourceFlags(values)));
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain(flag);
  });
});
