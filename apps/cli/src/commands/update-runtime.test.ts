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

/** The servicing state the datastore records now. */
function state(): string {
  const store = openDatastore(datastore, { readOnly: true });
  try {
    return store.current().servicingState;
  } finally {
    store.close();
  }
}

describe('trident update, runtime-only changes', () => {
  it('has nothing to do for the provisioned configuration', () => {
    const file = join(dir, 'same.yaml');
    writeFileSync(file, HC);
    const run = trident('update', file, '--datastore', datastore);
    expect(run.stderr).toMatch(/nothing to update/u);
    expect(run.code).toBe(0);
    expect(state()).toBe('provisioned');
  });

  it('stages a netplan change as a runtime update: no volume written, no reboot', () => {
    const file = join(dir, 'netplan.yaml');
    writeFileSync(file, `${HC}  netplan:\n    version: 2\n    ethernets:\n      e:\n        dhcp4: true\n`);
    // Stage only: finalizing would apply netplan to this machine (the VM test sysext-runtime does).
    const run = trident(
      'update',
      file,
      '--datastore',
      datastore,
      '--allowed-operations',
      'stage',
      '--dry-run',
    );
    expect(run.stdout + run.stderr).toContain('Servicing type: runtime update (os.netplan changed)');
    expect(state()).toBe('provisioned');
    const staged = trident('update', file, '--datastore', datastore, '--allowed-operations', 'stage');
    expect(staged.code, staged.stderr).toBe(0);
    expect(state()).toBe('runtime-update-staged');
  });
});
