/**
 * The committed src/gen must be exactly what the protos generate (CI also runs `check:generate`),
 * and neither script may ever leave the package without src/gen when generation fails.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { componentAvailable } from '@trident/test-support/component';
import { describe, expect, test } from 'vitest';

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

/** A copy of the package's scripts, protos and src/gen in a temp dir, so failures hurt nothing. */
async function packageCopy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tridentd-gen-copy-'));
  for (const part of ['scripts', 'proto', 'src/gen'])
    await cp(join(ROOT, part), join(dir, part), { recursive: true });
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

/** protoc without the well-known protos next to it: what a machine without libprotobuf-dev has. */
async function protocWithoutWellKnownProtos(dir: string): Promise<string> {
  const real = execFileSync('sh', ['-c', 'command -v "$1"', 'sh', process.env['PROTOC'] ?? 'protoc'], {
    encoding: 'utf8',
  }).trim();
  const bin = join(dir, 'bare', 'bin');
  await mkdir(bin, { recursive: true });
  await copyFile(real, join(bin, 'protoc'));
  execFileSync('chmod', ['+x', join(bin, 'protoc')]);
  return join(bin, 'protoc');
}

describe.skipIf(!protocAvailable)('generation never leaves the checkout without src/gen', () => {
  const scripts = [
    ['generate.sh', 'generate.sh'],
    ['check-generate.sh', 'check:generate'],
  ] as const;

  for (const [script, name] of scripts) {
    test(`${name} with protoc missing the well-known protos fails and keeps src/gen`, async () => {
      const dir = await packageCopy();
      try {
        const before = await tree(join(dir, 'src/gen'));
        const result = spawnSync('bash', [join(dir, 'scripts', script)], {
          env: { ...process.env, PROTOC: await protocWithoutWellKnownProtos(dir) },
          encoding: 'utf8',
        });
        expect(result.status).not.toBe(0);
        expect(result.stderr).toContain('google/protobuf/timestamp.proto: File not found');
        expect(result.stderr).toContain('libprotobuf-dev');
        expect(await tree(join(dir, 'src/gen'))).toEqual(before);
        expect((await readdir(join(dir, 'src'))).sort()).toEqual(['gen']);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  test('check:generate reports a stale src/gen without rewriting it', async () => {
    const dir = await packageCopy();
    try {
      const file = join(dir, 'src/gen/trident/v1/version_service_pb.ts');
      await writeFile(file, `${await readFile(file, 'utf8')}// edited by hand\n`);
      const before = await tree(join(dir, 'src/gen'));
      const result = spawnSync('bash', [join(dir, 'scripts/check-generate.sh')], { encoding: 'utf8' });
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('src/gen is not what the protos generate');
      expect(result.stderr).toContain('-// edited by hand');
      expect(await tree(join(dir, 'src/gen'))).toEqual(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
