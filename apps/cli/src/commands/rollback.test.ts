import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openDatastore, parseHostStatus, type ServicingEvent } from '@trident/datastore';
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
let esp: string;

function spec(version: number, os?: Record<string, unknown>) {
  return {
    image: { url: `http://10.0.0.1/v${version}.cosi`, sha384: 'ignored' },
    storage: {
      disks: [
        {
          id: 'os',
          device: '/dev/sda',
          partitionTableType: 'gpt',
          partitions: [
            { id: 'esp', type: 'esp', size: '100M' },
            { id: 'root-a', type: 'root', size: '1G' },
            { id: 'root-b', type: 'root', size: '1G' },
            { id: 'trident', type: 'linux-generic', size: '100M' },
          ],
        },
      ],
      abUpdate: { volumePairs: [{ id: 'root', volumeAId: 'root-a', volumeBId: 'root-b' }] },
      filesystems: [
        // Mounted at a path nothing is mounted at on this machine: the ESP is edited with mtools.
        { deviceId: 'esp', mountPoint: { path: '/trident-test-esp', options: 'umask=0077' } },
        { deviceId: 'root', mountPoint: '/' },
        { deviceId: 'trident', source: 'new', type: 'ext4', mountPoint: '/var/lib/trident' },
      ],
    },
    ...(os ? { os } : {}),
  };
}

/** A datastore installed from v1 on A and A/B-updated to v2 on B, plus `more` events. */
function datastore(name: string, more: ServicingEvent[] = [], ab = true): string {
  const path = join(dir, name);
  const store = openDatastore(path, { create: true });
  const events: ServicingEvent[] = [
    {
      type: 'clean-install-staged',
      spec: spec(1),
      partitionPaths: { esp, 'root-a': '/dev/sda2', 'root-b': '/dev/sda3' },
      installIndex: 0,
    },
    { type: 'clean-install-finalized' },
    { type: 'committed' },
    ...(ab
      ? ([
          { type: 'ab-update-staged', spec: spec(2) },
          { type: 'ab-update-finalized' },
          { type: 'committed' },
        ] as ServicingEvent[])
      : []),
    ...more,
  ];
  for (const event of events) store.apply(event);
  store.close();
  return path;
}

function state(path: string) {
  const store = openDatastore(path, { readOnly: true });
  try {
    return store.current();
  } finally {
    store.close();
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'trident-rollback-'));
  // A real FAT ESP (an image file as the ESP "partition"), with both volumes' loaders.
  esp = join(dir, 'esp.img');
  execFileSync('mkfs.vfat', ['-C', '-n', 'ESP', esp, String(34 * 1024)]);
  const env = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
  execFileSync('mmd', ['-i', esp, '::/EFI', '::/EFI/AZLA', '::/EFI/AZLB', '::/EFI/BOOT'], { env });
  for (const [to, content] of [
    ['::/EFI/AZLA/bootx64.efi', 'loader A'],
    ['::/EFI/AZLB/bootx64.efi', 'loader B'],
    ['::/EFI/BOOT/BOOTX64.EFI', 'loader B'],
  ] as const) {
    const from = join(dir, 'file');
    writeFileSync(from, content);
    execFileSync('mcopy', ['-o', '-i', esp, from, to], { env });
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('trident rollback --check', () => {
  it('prints none, ab or runtime as upstream does', () => {
    const installed = datastore('installed.sqlite', [], false);
    const updated = datastore('updated.sqlite');
    const runtime = datastore('runtime.sqlite', [
      { type: 'runtime-update-staged', spec: spec(2, { netplan: { version: 2 } }) },
      { type: 'runtime-update-finalized' },
    ]);
    expect(trident('rollback', '--check', '--datastore', installed)).toMatchObject({
      code: 0,
      stdout: 'none\n',
    });
    expect(trident('rollback', '--check', '--datastore', updated)).toMatchObject({ code: 0, stdout: 'ab\n' });
    expect(trident('rollback', '--check', '--datastore', runtime)).toMatchObject({
      code: 0,
      stdout: 'runtime\n',
    });
    expect(trident('rollback', '--check', '--ab', '--datastore', runtime)).toMatchObject({
      code: 0,
      stdout: 'ab\n',
    });
    expect(JSON.parse(trident('rollback', '--check', '--json', '--datastore', runtime).stdout)).toEqual({
      check: 'runtime',
    });
  });

  it('--runtime when an A/B rollback is next, or --runtime --ab: exit 1, invalid-rollback-expectation', () => {
    const updated = datastore('expect.sqlite');
    const wrong = trident('rollback', '--check', '--runtime', '--datastore', updated);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('INVALID_INPUT_ERROR:invalid-rollback-expectation');
    const both = trident('rollback', '--runtime', '--ab', '--datastore', updated);
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('conflicting expectations');
  });

  it('with no datastore: exit 1, host-not-provisioned', () => {
    const { code, stderr } = trident('rollback', '--check', '--datastore', join(dir, 'none.sqlite'));
    expect(code).toBe(1);
    expect(stderr).toContain('host-not-provisioned');
  });
});

describe('trident rollback', () => {
  it('stage, then finalize: the other volume boots next (EFI/BOOT from EFI/AZLA), no reboot with --no-reboot', () => {
    const path = datastore('ab.sqlite');
    const statusFile = join(dir, 'staged-status.yaml');
    const staged = trident(
      'rollback',
      '--allowed-operations',
      'stage',
      '--datastore',
      path,
      '-s',
      statusFile,
    );
    expect(staged.code).toBe(0);
    expect(staged.stdout).toContain('Staged a manual A/B rollback (manual-rollback-ab-staged)');
    expect(parseHostStatus(readFileSync(statusFile, 'utf8'))).toMatchObject({
      servicingState: 'manual-rollback-ab-staged',
      spec: spec(1),
      specOld: spec(2),
    });
    // Nothing more to roll back while one is staged.
    expect(trident('get', 'rollback-target', '--datastore', path).stdout).toBe('{}\n');

    const finalized = trident(
      'rollback',
      '--allowed-operations',
      'finalize',
      '--no-reboot',
      '--json',
      '--datastore',
      path,
    );
    expect(finalized.code).toBe(0);
    expect(JSON.parse(finalized.stdout)).toEqual({
      result: 'finalized',
      kind: 'ab',
      needsReboot: true,
      boot: { volume: 'volume-a', uefiEntries: [], loaderEntryDefault: undefined, fallbackFrom: 'AZLA' },
    });
    expect(state(path).servicingState).toBe('manual-rollback-ab-finalized');
    expect(execFileSync('mtype', ['-i', esp, '::/EFI/BOOT/BOOTX64.EFI'], { encoding: 'utf8' })).toBe(
      'loader A',
    );
  });

  it('finalize with nothing staged: exit 1, the error written with -e and recorded', () => {
    const path = datastore('nothing-staged.sqlite');
    const errorFile = join(dir, 'error.yaml');
    const { code, stderr } = trident(
      'rollback',
      '--allowed-operations',
      'finalize',
      '--datastore',
      path,
      '-e',
      errorFile,
    );
    expect(code).toBe(1);
    expect(stderr).toContain('INVALID_INPUT_ERROR:invalid-rollback-state');
    const error = readFileSync(errorFile, 'utf8');
    expect(error).toContain('kind: INVALID_INPUT_ERROR');
    expect(error).toContain('subkind: invalid-rollback-state');
    expect(state(path).lastError).toMatchObject({ error: 'invalid-rollback-state' });
  });

  it('an unknown operation: exit 1 naming it', () => {
    const path = datastore('bad-ops.sqlite');
    const { code, stderr } = trident('rollback', '--allowed-operations', 'stage,reboot', '--datastore', path);
    expect(code).toBe(1);
    expect(stderr).toContain('INVALID_INPUT_ERROR:invalid-allowed-operations');
    expect(stderr).toContain("'reboot'");
    expect(state(path).servicingState).toBe('provisioned');
  });

  it('nothing to roll back: exit 0 and says so', () => {
    const path = datastore('fresh.sqlite', [], false);
    const { code, stdout } = trident('rollback', '--datastore', path);
    expect(code).toBe(0);
    expect(stdout).toContain('Nothing to roll back: no rollback is available (servicing state provisioned)');
  });
});

describe('trident get rollback-chain', () => {
  it('prints the chain as upstream serialises it (kind, spec, abActiveVolume, installIndex)', () => {
    const path = datastore('chain.sqlite');
    const { code, stdout } = trident('get', 'rollback-chain', '--format', 'json', '--datastore', path);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual([
      { kind: 'ab', spec: spec(1), abActiveVolume: 'volume-a', installIndex: 0 },
    ]);
  });
});
