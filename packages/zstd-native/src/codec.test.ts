import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { activeCodec, codecInfo, createImageWriter } from './index.ts';

const index = path.join(import.meta.dirname, 'index.ts');

/** Runs a snippet in a fresh Node process (real module loading, real environment). */
function child(env: Record<string, string>, body: string): unknown {
  const script = `import * as z from ${JSON.stringify(index)};\n${body}`;
  const out = execFileSync(
    process.execPath,
    ['--conditions=@trident/source', '--input-type=module', '-e', script],
    {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    },
  );
  return JSON.parse(out);
}

describe('codec selection', () => {
  it('uses the addon by default and reports it for trident --version', () => {
    expect(activeCodec()).toBe('native');
    const info = codecInfo();
    expect(info).toMatchObject({
      requested: 'native',
      active: 'native',
      nodeZlibZstd: true,
      native: { loaded: true },
    });
    expect(info.native.loaded && info.native.zstdVersion).toMatch(/^1\.\d+\.\d+$/);
    expect(activeCodec('simple-zstd')).toBe('simple-zstd');
  });

  it('rejects an unknown codec from the option or the environment', async () => {
    await expect(
      createImageWriter({ target: { path: '/nonexistent' }, codec: 'gzip' as 'native' }),
    ).rejects.toMatchObject({
      code: 'ZSTD_INVALID_OPTION',
    });
    expect(
      child(
        { TRIDENT_ZSTD_CODEC: 'bogus' },
        `try { z.activeCodec(); } catch (e) { console.log(JSON.stringify(e.code)); }`,
      ),
    ).toBe('ZSTD_INVALID_OPTION');
  });

  it('throws ZSTD_ADDON_UNAVAILABLE with the reason and how to build, unless a fallback is chosen', () => {
    // The generated loader honours NAPI_RS_NATIVE_LIBRARY_PATH: point it at nothing.
    const env = { NAPI_RS_NATIVE_LIBRARY_PATH: '/nonexistent/zstd-node.node' };
    const r = child(
      env,
      `try { z.activeCodec(); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, auto: z.activeCodec('auto'), info: z.codecInfo('auto') })); }`,
    ) as {
      code: string;
      message: string;
      auto: string;
      info: { active: string; native: { loaded: boolean } };
    };
    expect(r.code).toBe('ZSTD_ADDON_UNAVAILABLE');
    expect(r.message).toContain('pnpm --filter @trident/zstd-native build');
    expect(r.auto).toBe('node-zlib');
    expect(r.info).toMatchObject({ active: 'node-zlib', native: { loaded: false } });
    expect(
      child({ ...env, TRIDENT_ZSTD_CODEC: 'node-zlib' }, 'console.log(JSON.stringify(z.activeCodec()))'),
    ).toBe('node-zlib');
  });
});
