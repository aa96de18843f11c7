import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AGENT_CONFIG_PATH, DEFAULT_DATASTORE_PATH, openDatastore } from '@trident/datastore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MAIN = resolve(import.meta.dirname, '../main.ts');

/** Runs the real CLI as the boot unit does, in its own Node process. */
function trident(...args: string[]) {
  const result = spawnSync(process.execPath, ['--conditions=@trident/source', MAIN, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const SPEC = {
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
};

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'trident-commit-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function datastore(name: string, finalized: boolean, rootPath: string): string {
  const path = join(dir, name);
  const store = openDatastore(path, { create: true });
  store.apply({ type: 'clean-install-staged', spec: SPEC, partitionPaths: { root: rootPath } });
  store.apply({ type: 'clean-install-finalized' });
  if (!finalized) store.apply({ type: 'committed' });
  store.close();
  return path;
}

describe('trident commit', () => {
  it('with no datastore: host-not-provisioned, exit 1, and no datastore left behind', () => {
    const path = join(dir, 'none.sqlite');
    const { code, stderr } = trident('commit', '--datastore', path);
    expect(code).toBe(1);
    expect(stderr).toContain('INVALID_INPUT_ERROR:host-not-provisioned');
    expect(() => openDatastore(path, { readOnly: true })).toThrow(/no datastore/u);
  });

  it('on a provisioned host: nothing to do, exit 0', () => {
    const path = datastore('provisioned.sqlite', false, '/dev/disk/by-partuuid/none');
    const { code, stdout } = trident('commit', '--datastore', path, '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ result: 'nothing-to-do', state: 'provisioned' });
  });

  it('when / is not the installed root: exit 2, recorded as clean-install-reboot-check', () => {
    // A device that is certainly not this machine's root: a plain file.
    const notRoot = join(dir, 'not-root');
    writeFileSync(notRoot, '');
    const path = datastore('wrong-root.sqlite', true, notRoot);
    const { code, stderr } = trident('commit', '--datastore', path);
    expect(code).toBe(2);
    expect(stderr).toContain('SERVICING_ERROR:clean-install-reboot-check');
    const store = openDatastore(path, { readOnly: true });
    try {
      expect(store.current()).toMatchObject({
        servicingState: 'not-provisioned',
        spec: {},
        lastError: { error: 'clean-install-reboot-check' },
      });
    } finally {
      store.close();
    }
  });
});

describe('packaging/systemd/trident.service', () => {
  const unit = readFileSync(
    resolve(import.meta.dirname, '../../../../packaging/systemd/trident.service'),
    'utf8',
  );

  it('runs trident commit once per boot, in multi-user, after the network', () => {
    expect(unit).toMatch(/^Type=oneshot$/mu);
    expect(unit.match(/^ExecStart=.*$/gmu)).toEqual(['ExecStart=/usr/bin/trident commit']);
    expect(unit).toMatch(/^After=.*\bnetwork-online\.target\b/mu);
    expect(unit).toMatch(/^WantedBy=multi-user\.target$/mu);
  });

  it('starts only where a datastore can be: the default path or an agent configuration naming one', () => {
    expect(unit.match(/^ConditionPathExists=.*$/gmu)).toEqual([
      `ConditionPathExists=|${DEFAULT_DATASTORE_PATH}`,
      `ConditionPathExists=|${AGENT_CONFIG_PATH}`,
    ]);
  });
});
