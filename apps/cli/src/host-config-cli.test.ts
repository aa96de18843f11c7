import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MAIN = resolve(import.meta.dirname, 'main.ts');
const FIXTURES = resolve(import.meta.dirname, '../../../packages/host-config/src/fixtures');

function trident(...args: string[]) {
  const result = spawnSync(process.execPath, ['--conditions=@trident/source', MAIN, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trident-hc-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('trident validate / config', () => {
  it('accepts a valid Host Configuration', () => {
    const result = trident('validate', join(FIXTURES, 'valid/basic.yaml'));
    expect(result.stdout).toContain('valid: 0 error(s)');
    expect(result.code).toBe(0);
  });

  it('reports code, path, line and column for an invalid one and exits 1', () => {
    const file = join(FIXTURES, 'invalid/duplicate-id.yaml');
    const result = trident('validate', file);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      new RegExp(
        `${file}:10:\\d+: error HC_DUPLICATE_ID storage\\.disks\\[0\\]\\.partitions\\[2\\]\\.id`,
        'u',
      ),
    );
    const json = JSON.parse(trident('validate', file, '--json').stdout);
    expect(json.findings[0]).toMatchObject({ code: 'HC_DUPLICATE_ID', line: 10 });
  });

  it('migrates an older-API document to one that validates', async () => {
    const out = join(dir, 'migrated.yaml');
    const result = trident('config', 'migrate', join(FIXTURES, 'migrate/legacy-os-image.yaml'), '-o', out);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/osImage/u);
    const migrated = await readFile(out, 'utf8');
    expect(migrated).toMatch(/^image:/mu);
    expect(migrated).not.toMatch(/^osImage:/mu);
    expect(trident('validate', out).code).toBe(0);
  });

  it('refuses what cannot be migrated', () => {
    const result = trident('config', 'migrate', join(FIXTURES, 'migrate-refused/partition-image.yaml'));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/error HC_/u);
  });

  it('prints the JSON Schema', () => {
    const schema = JSON.parse(trident('config', 'schema').stdout);
    expect(schema.$schema).toMatch(/2020-12/u);
    expect(schema.properties).toHaveProperty('storage');
  });

  it('exits 3 when the file is missing', () => {
    expect(trident('validate', join(dir, 'none.yaml')).code).toBe(3);
  });
});
