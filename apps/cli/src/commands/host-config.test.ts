import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildFixtureCosi,
  sha384Hex,
} from '../../../../packages/cosi-format/src/test-support/fixture-cosi.ts';

const MAIN = resolve(import.meta.dirname, '../main.ts');
const FIXTURES = resolve(import.meta.dirname, '../../../../packages/host-config/src/fixtures');

function trident(...args: string[]) {
  const result = spawnSync(process.execPath, ['--conditions=@trident/source', MAIN, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trident-validate-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('trident validate is static, as upstream', () => {
  const samples = readdirSync(join(FIXTURES, 'samples')).filter((f) => f.endsWith('.yaml'));

  it.each(samples)('%s (url: file:///path/to/...) validates offline, exit 0, image never opened', (file) => {
    const result = trident('validate', join(FIXTURES, 'samples', file));
    expect(result.stderr).not.toMatch(/REMOTE_|COSI_|trident: \[/u);
    expect(result.stdout).toContain('valid: 0 error(s)');
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('note: the image was not opened (validation is static)');
  });

  it('cross-checks the image only with --image, pinning the configured hash to the configured URL', async () => {
    const fixture = buildFixtureCosi();
    const cosi = join(dir, 'os.cosi');
    await writeFile(cosi, fixture.bytes);
    const hash = sha384Hex(new TextEncoder().encode(JSON.stringify(fixture.metadata, null, 2)));
    const rest = (await readFile(join(FIXTURES, 'valid/basic.yaml'), 'utf8')).replace(
      /^image:\n( {2}.*\n)+/mu,
      '',
    );
    const config = (sha384: string) => `image:\n  url: file://${cosi}\n  sha384: ${sha384}\n${rest}`;
    const good = join(dir, 'good.yaml');
    await writeFile(good, config(hash));
    const checked = trident('validate', good, '--image', `file://${cosi}`, '--json');
    expect(checked.code).toBe(0); // the fixture image has the ESP and root the configuration mounts
    expect(JSON.parse(checked.stdout)).toMatchObject({ image: `file://${cosi}`, valid: true });
    // An image that lacks what the configuration mounts is a cross-check finding.
    const other = join(dir, 'other.cosi');
    await writeFile(other, buildFixtureCosi({ mutate: (m) => (m.images[1].mountPoint = '/srv') }).bytes);
    const crossed = JSON.parse(trident('validate', good, '--image', other, '--json').stdout);
    expect(crossed.findings.map((f: { code: string }) => f.code)).toContain('HC_COSI_MISSING_FILESYSTEM');
    // --image that cannot be read is an I/O failure: proof the image is opened only on request.
    expect(trident('validate', good, '--image', join(dir, 'absent.cosi')).code).toBe(3);
    // Without --image the same document is valid: nothing is opened.
    expect(trident('validate', good).code).toBe(0);
    // The configured hash is checked against the configured image (bare hex in YAML, as upstream).
    const wrong = join(dir, 'wrong.yaml');
    await writeFile(wrong, config('0'.repeat(96)));
    const mismatch = trident('validate', wrong, '--image', `file://${cosi}`);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toContain('[COSI_METADATA_HASH_MISMATCH]');
  });

  it('a disk with more partitions than its GPT holds fails validation with code and YAML path', () => {
    const file = join(FIXTURES, 'invalid/too-many-partitions.yaml');
    const result = trident('validate', file);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      `${file}:138:11: error HC_TOO_MANY_PARTITIONS storage.disks[0].partitions[128]:`,
    );
  });

  it('install --dry-run refuses it the same way instead of dying with a RangeError', async () => {
    const file = join(dir, 'many.yaml');
    const text = await readFile(join(FIXTURES, 'invalid/too-many-partitions.yaml'), 'utf8');
    await writeFile(file, `image:\n  url: file://${join(dir, 'none.cosi')}\n  sha384: ignored\n${text}`);
    const result = trident('install', file, '--dry-run', '--disk', `os=image:${join(dir, 'disk.img')}:300G`);
    expect(result.stderr).not.toMatch(/RangeError|out of bounds/u);
    expect(result.stderr).toContain('HC_TOO_MANY_PARTITIONS');
    expect(result.code).toBe(1);
  });

  it('refuses a Host Configuration file over 4 MiB without reading it into memory', async () => {
    const file = join(dir, 'huge.yaml');
    await writeFile(file, `storage:\n  disks: [${'a,'.repeat(5 * 1024 * 1024)}a]\n`);
    const result = trident('validate', file);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[HC_YAML_TOO_LARGE]');
  });
});
