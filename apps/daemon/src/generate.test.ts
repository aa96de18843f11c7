/** The committed src/gen must be exactly what the protos generate (CI also runs `check:generate`). */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { componentAvailable } from '@trident/test-support/component';
import { expect, test } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function hasProtoc(): boolean {
  try {
    execFileSync(process.env['PROTOC'] ?? 'protoc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[path.slice(dir.length + 1)] = await readFile(path, 'utf8');
  }
  return out;
}

const protocAvailable = componentAvailable(
  hasProtoc(),
  'protoc',
  'protoc is not on PATH (Debian package protobuf-compiler)',
);

test.skipIf(!protocAvailable)('regenerating from proto/ reproduces src/gen byte for byte', async () => {
  const out = await mkdtemp(join(tmpdir(), 'tridentd-gen-'));
  try {
    execFileSync('bash', [join(ROOT, 'scripts/generate.sh')], {
      env: {
        ...process.env,
        OUT_DIR: out,
        PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env['PATH']}`,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const fresh = await tree(out);
    const committed = await tree(join(ROOT, 'src/gen'));
    expect(Object.keys(fresh).sort()).toEqual(Object.keys(committed).sort());
    for (const [path, text] of Object.entries(fresh)) expect(committed[path], path).toBe(text);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
