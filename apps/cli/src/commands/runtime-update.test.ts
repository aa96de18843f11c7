import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openDatastore } from '@trident/datastore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MAIN = resolve(import.meta.dirname, '../main.ts');

function trident(...args: string[]) {
  const result = spawnSync(process.execPath, ['--conditions=@trident/source', MAIN, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const HC = `image:
  url: http://10.0.0.1/v1.cosi
  sha384: ignored
storage:
  disks:
  - id: os
    device: /dev/sda
    partitionTableType: gpt
    partitions:
    - { id: esp, type: esp, size: 100M }
    - { id: root, type: root, size: 1G }
  filesystems:
  - { deviceId: esp, mountPoint: { path: /boot/efi, options: umask=0077 } }
  - { deviceId: root, mountPoint: / }
os:
  hostname: one
`;

let dir: string;
let datastore: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'trident-runtime-update-cli-'));
  datastore = join(dir, 'datastore.sqlite');
  const store = openDatastore(datastore, { create: true });
  store.apply({ type: 'clean-install-started' });
  store.apply({
    type: 'clean-install-staged',
    spec: {
      image: { url: 'http://10.0.0.1/v1.cosi', sha384: 'ignored' },
      storage: {
        disks: [
          {
            id: 'os',
            device: '/dev/sda',
            partitionTableType: 'gpt',
            partitions: [
              { id: 'esp', type: 'esp', size: '100M' },
              { id: 'root', type: 'root', size: '1G' },
            ],
          },
        ],
        filesystems: [
          { deviceId: 'esp', mountPoint: { path: '/boot/efi', options: 'umask=0077' } },
          { deviceId: 'root', mountPoint: '/' },
        ],
      },
      os: { hostname: 'one' },
    },
  });
  store.apply({ type: 'clean-install-finalized' });
  store.apply({ type: 'committed' });
  store.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('trident runtime-update', () => {
  it('has nothing to do for the provisioned configuration', () => {
    const file = join(dir, 'same.yaml');
    writeFileSync(file, HC);
    const run = trident('runtime-update', file, '--datastore', datastore);
    expect(run.stdout).toMatch(/^Nothing to do: no runtime change/u);
    expect(run.code).toBe(0);
  });

  it('refuses a change only an A/B update applies, with exit 1 and the changed path', () => {
    const file = join(dir, 'hostname.yaml');
    writeFileSync(file, HC.replace('hostname: one', 'hostname: two'));
    const run = trident('runtime-update', file, '--datastore', datastore, '--json');
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({
      result: 'failed',
      error: { kind: 'INVALID_INPUT_ERROR', code: 'ENGINE_RUNTIME_UPDATE_NEEDS_AB_UPDATE' },
    });
    expect(run.stderr).toContain('os.hostname changed');
  });

  it('rejects an unknown operation and a missing datastore', () => {
    const file = join(dir, 'same.yaml');
    expect(trident('runtime-update', file, '--allowed-operations', 'stage,reboot').stderr).toContain(
      '--allowed-operations takes stage, finalize or stage,finalize',
    );
    const missing = trident('runtime-update', file, '--datastore', join(dir, 'none.sqlite'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('host-not-provisioned');
  });
});
