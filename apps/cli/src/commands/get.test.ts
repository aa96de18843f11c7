import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openDatastore } from '@trident/datastore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MAIN = resolve(import.meta.dirname, '../main.ts');

/** Runs the real CLI as a user would, in its own Node process. */
function trident(...args: string[]) {
  const result = spawnSync(process.execPath, ['--conditions=@trident/source', MAIN, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

let dir: string;
let updated: string;
let failed: string;

const V1 = { image: { url: 'http://10.0.0.1/v1.cosi', sha384: 'ignored' }, os: { hostname: 'edge-1' } };
const V2 = { image: { url: 'http://10.0.0.1/v2.cosi', sha384: 'ignored' }, os: { hostname: 'edge-1' } };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'trident-get-'));
  // A host installed from V1, then A/B-updated to V2 and committed: a real datastore file.
  updated = join(dir, 'updated.sqlite');
  const store = openDatastore(updated, { create: true });
  store.apply({
    type: 'clean-install-staged',
    spec: V1,
    partitionPaths: { esp: '/dev/sda1', 'root-a': '/dev/sda2', 'root-b': '/dev/sda3' },
  });
  store.apply({ type: 'clean-install-finalized' });
  store.apply({ type: 'committed' });
  store.apply({ type: 'ab-update-staged', spec: V2 });
  store.apply({ type: 'ab-update-finalized' });
  store.apply({ type: 'committed' });
  store.close();
  // An install whose image deployment failed.
  failed = join(dir, 'failed.sqlite');
  const broken = openDatastore(failed, { create: true });
  broken.apply({ type: 'clean-install-staged', spec: V1 });
  broken.apply({
    type: 'failed',
    error: { message: 'Failed to deploy images', error: 'deploy-images', category: 'servicing', cause: null },
  });
  broken.close();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('trident get', () => {
  it('prints the Host Status as YAML by default, with no warning on stderr', () => {
    const { code, stdout, stderr } = trident('get', '--datastore', updated);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toBe(`spec:
  image:
    url: http://10.0.0.1/v2.cosi
    sha384: ignored
  os:
    hostname: edge-1
servicingState: provisioned
partitionPaths:
  esp: /dev/sda1
  root-a: /dev/sda2
  root-b: /dev/sda3
abActiveVolume: volume-b
installIndex: 0
tridentVersion: 0.1.0+trident-ts
`);
  });

  it('prints the configuration and the last error, in YAML or JSON', () => {
    const config = trident('get', 'configuration', '--datastore', updated, '--format', 'json');
    expect(config.code).toBe(0);
    expect(JSON.parse(config.stdout)).toEqual(V2);
    expect(trident('get', 'config', '--datastore', updated).stdout).toBe(
      'image:\n  url: http://10.0.0.1/v2.cosi\n  sha384: ignored\nos:\n  hostname: edge-1\n',
    );
    expect(trident('get', 'last-error', '--datastore', updated).stdout).toBe('null\n');
    const error = trident('get', 'last-error', '--datastore', failed, '--json');
    expect(error.code).toBe(0);
    expect(JSON.parse(error.stdout)).toEqual({
      message: 'Failed to deploy images',
      error: 'deploy-images',
      category: 'servicing',
      cause: null,
    });
    const status = trident('get', 'status', '--datastore', failed, '--json');
    expect(JSON.parse(status.stdout)).toMatchObject({
      servicingState: 'clean-install-staged',
      lastError: { error: 'deploy-images' },
    });
  });

  it('shows the rollback chain and target', () => {
    const chain = trident('get', 'rollback-chain', '--datastore', updated, '--json');
    expect(chain.code).toBe(0);
    expect(JSON.parse(chain.stdout)).toEqual([
      { kind: 'ab', spec: V1, abActiveVolume: 'volume-a', installIndex: 0 },
    ]);
    expect(trident('get', 'rollback-target', '--datastore', updated).stdout).toBe(
      'image:\n  url: http://10.0.0.1/v1.cosi\n  sha384: ignored\nos:\n  hostname: edge-1\n',
    );
    expect(trident('get', 'rollback-target', '--datastore', failed).stdout).toBe('{}\n');
  });

  it('writes to --outfile instead of standard output', () => {
    const out = join(dir, 'status.yaml');
    const { code, stdout } = trident('get', '-o', out, '--datastore', updated);
    expect(code).toBe(0);
    expect(stdout).toBe('');
    expect(readFileSync(out, 'utf8')).toContain('servicingState: provisioned\n');
  });

  it('says clearly when there is no datastore, and never creates one', () => {
    const missing = join(dir, 'none', 'datastore.sqlite');
    const { code, stdout, stderr } = trident('get', '--datastore', missing);
    expect(code).toBe(3);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      `trident: [DATASTORE_NOT_FOUND] no datastore at ${missing}: this host was not provisioned by Trident, or its datastore lives elsewhere\n`,
    );
    expect(spawnSync('test', ['-e', join(dir, 'none')]).status).toBe(1);
  });

  it('refuses unknown kinds, formats and options with usage errors', () => {
    const kind = trident('get', 'everything', '--datastore', updated);
    expect(kind.code).toBe(2);
    expect(kind.stderr).toMatch(
      /^trident: \[CLI_UNKNOWN_COMMAND\] trident get: 'everything' is not one of status, configuration/u,
    );
    const format = trident('get', '--format', 'xml', '--datastore', updated);
    expect(format.code).toBe(2);
    expect(format.stderr).toContain("[CLI_BAD_OPTION] --format must be yaml or json, not 'xml'");
    expect(trident('get', '--disk', 'x').code).toBe(2);
    const help = trident('get', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: trident get \[status\|configuration\|last-error/u);
  });
});
