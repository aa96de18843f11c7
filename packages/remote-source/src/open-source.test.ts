import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseContentRange } from './content-range.ts';
import { parseChallenge } from './oci-auth.ts';
import { openSource } from './open-source.ts';
import { backoffDelay, DEFAULT_RETRY, parseRetryAfter } from './retry.ts';

let dir: string;
const bytes = Buffer.from('0123456789abcdef'.repeat(1000));
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trident-open-source-'));
  await writeFile(join(dir, 'a b.cosi'), bytes);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('openSource', () => {
  it('opens plain paths and percent-encoded file:// URLs', async () => {
    for (const location of [join(dir, 'a b.cosi'), pathToFileURL(join(dir, 'a b.cosi')).href]) {
      const source = await openSource(location);
      expect(source.size).toBe(bytes.length);
      expect(Buffer.from(await source.read(16, 16)).toString()).toBe('0123456789abcdef');
      const parts: Uint8Array[] = [];
      for await (const chunk of source.stream(3, 100)) parts.push(chunk);
      expect(Buffer.concat(parts).equals(bytes.subarray(3, 103))).toBe(true);
      await source.close();
    }
  });

  it.each([
    ['/nonexistent/x.cosi', 'REMOTE_FILE'],
    ['ftp://host/x.cosi', 'REMOTE_UNSUPPORTED_SCHEME'],
    ['oci://UPPER/x', 'REMOTE_OCI_REFERENCE'],
    ['http://[bad/x', 'REMOTE_INVALID_URL'],
  ])('%s fails with %s', async (location, code) => {
    await expect(openSource(location)).rejects.toMatchObject({ code });
  });

  it('refuses a directory', async () => {
    await expect(openSource(dir)).rejects.toMatchObject({ code: 'REMOTE_FILE' });
  });
});

describe('protocol helpers', () => {
  it('parses Content-Range and rejects inconsistent ones', () => {
    expect(parseContentRange('bytes 0-0/10')).toEqual({ start: 0, end: 0, total: 10 });
    expect(parseContentRange('bytes 5-9/*')).toEqual({ start: 5, end: 9, total: undefined });
    expect(parseContentRange('bytes 9-5/10')).toBeUndefined();
    expect(parseContentRange('bytes 0-10/10')).toBeUndefined();
    expect(parseContentRange('items 0-1/2')).toBeUndefined();
  });

  it('parses Retry-After as seconds or a date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });

  it('backs off exponentially with bounded jitter', () => {
    const at = (n: number, r: number) => backoffDelay(n, DEFAULT_RETRY, () => r);
    expect([at(1, 0), at(1, 1), at(2, 0), at(3, 1)]).toEqual([50, 100, 100, 400]);
    expect(at(30, 1)).toBe(DEFAULT_RETRY.maxDelayMs);
  });

  it('parses WWW-Authenticate challenges', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"',
      ),
    ).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'https://auth.example/token',
        service: 'registry.example',
        scope: 'repository:a/b:pull',
      },
    });
    expect(parseChallenge('Basic realm="x"')).toEqual({ scheme: 'basic', params: { realm: 'x' } });
  });
});
