import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createImageEsp } from '@trident/boot-config';
import { type HostStatus, openDatastore, type ServicingEvent } from '@trident/datastore';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAllowedOperations } from '../allowed-operations.ts';
import { commitHost } from '../commit/commit.ts';
import { checkRollback, rollbackChain, rollbackTarget } from './chain.ts';
import { rollbackHost } from './rollback.ts';

/**
 * Manual rollback over real datastores (SQLite files) in a temp dir, with histories written through
 * the datastore's own state machine. The "system" is a temp tree as in commit's tests: device nodes
 * are files behind by-partuuid symlinks, `/proc/self/mountinfo` names the root device, efivars is a
 * plain directory (so systemd-boot's variables are real files, and efibootmgr is never run: the
 * host has no firmware variables). The ESP is a directory, or a real FAT image edited with mtools.
 */
const run = promisify(execFile);
const LOADER_GUID = '4a67b082-0a4c-41cf-b6c7-440b29bb8c4f';

let dir: string;
let proc: string;
let sys: string;
let efivars: string;
let espDir: string;
let datastorePath: string;

const device = (name: string) => join(dir, 'dev', name);
const byPartuuid = (uuid: string) => join(dir, 'dev/disk/by-partuuid', uuid);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rollback-'));
  proc = join(dir, 'proc');
  sys = join(dir, 'sys');
  efivars = join(sys, 'firmware/efi/efivars');
  espDir = join(dir, 'esp');
  datastorePath = join(dir, 'var/lib/trident/datastore.sqlite');
  await mkdir(join(proc, 'self'), { recursive: true });
  await mkdir(efivars, { recursive: true });
  await mkdir(join(dir, 'dev/disk/by-partuuid'), { recursive: true });
  for (const [name, uuid] of [
    ['sda1', 'e5e5e5e5-0000-4000-8000-000000000001'],
    ['sda2', 'aaaaaaaa-0000-4000-8000-000000000002'],
    ['sda3', 'bbbbbbbb-0000-4000-8000-000000000003'],
  ] as const) {
    await writeFile(device(name), '');
    await symlink(device(name), byPartuuid(uuid));
  }
  await bootedFrom(device('sda3'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ROOT_A = 'aaaaaaaa-0000-4000-8000-000000000002';
const ROOT_B = 'bbbbbbbb-0000-4000-8000-000000000003';
const PATHS = () => ({
  esp: byPartuuid('e5e5e5e5-0000-4000-8000-000000000001'),
  'root-a': byPartuuid(ROOT_A),
  'root-b': byPartuuid(ROOT_B),
});

/** An A/B host's Host Configuration; `version` tells the specs of the history apart. */
function spec(version: number, extra: { os?: Record<string, unknown>; health?: unknown } = {}) {
  return {
    image: { url: `file:///srv/os-v${version}.cosi`, sha384: 'ignored' },
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
        { deviceId: 'esp', mountPoint: { path: '/boot/efi', options: 'umask=0077' } },
        { deviceId: 'root', mountPoint: '/' },
        { deviceId: 'trident', source: 'new', type: 'ext4', mountPoint: '/var/lib/trident' },
      ],
    },
    ...(extra.os ? { os: extra.os } : {}),
    ...(extra.health ? { health: extra.health } : {}),
  };
}

const NETPLAN = { version: 2, ethernets: { eth0: { dhcp4: true } } };

/** Install (v1) committed on volume A. */
const INSTALLED = (): ServicingEvent[] => [
  { type: 'clean-install-started' },
  { type: 'clean-install-staged', spec: spec(1), partitionPaths: PATHS(), installIndex: 0 },
  { type: 'clean-install-finalized' },
  { type: 'committed' },
];
/** Then an A/B update to v2, committed on volume B. */
const AB_UPDATED = (): ServicingEvent[] => [
  ...INSTALLED(),
  { type: 'ab-update-staged', spec: spec(2) },
  { type: 'ab-update-finalized' },
  { type: 'committed' },
];
/** Then a runtime update adding netplan (v2 + netplan). */
const RUNTIME_UPDATED = (): ServicingEvent[] => [
  ...AB_UPDATED(),
  { type: 'runtime-update-staged', spec: spec(2, { os: { netplan: NETPLAN } }) },
  { type: 'runtime-update-finalized' },
];

function record(events: readonly ServicingEvent[]): void {
  const store = openDatastore(datastorePath, { create: true });
  try {
    for (const event of events) store.apply(event);
  } finally {
    store.close();
  }
}

function status(): HostStatus {
  const store = openDatastore(datastorePath, { readOnly: true });
  try {
    return store.current();
  } finally {
    store.close();
  }
}

function rowCount(): number {
  const store = openDatastore(datastorePath, { readOnly: true });
  try {
    return store.history().length;
  } finally {
    store.close();
  }
}

async function bootedFrom(source: string): Promise<void> {
  await writeFile(
    join(proc, 'self/mountinfo'),
    `22 1 8:99 / / rw,relatime shared:1 - ext4 ${source} rw\n30 22 0:5 / /dev rw - devtmpfs devtmpfs rw\n`,
  );
}

async function setSelected(entry: string): Promise<void> {
  const bytes = Buffer.concat([Buffer.from([7, 0, 0, 0]), Buffer.from(`${entry}\0`, 'utf16le')]);
  await writeFile(join(efivars, `LoaderEntrySelected-${LOADER_GUID}`), bytes);
}

async function loaderEntryDefault(): Promise<string | undefined> {
  const bytes = await readFile(join(efivars, `LoaderEntryDefault-${LOADER_GUID}`)).catch(() => undefined);
  return bytes?.subarray(4).toString('utf16le').replace(/\0+$/u, '');
}

/** The ESP of an A/B host with type #1 entries, one per volume, as a directory. */
async function typeOneEsp(): Promise<void> {
  const files: Record<string, string> = {
    'loader/entries/os-a.conf': `title OS (A)\nlinux /a/vmlinuz\noptions root=PARTUUID=${ROOT_A} rw quiet\n`,
    'loader/entries/os-b.conf': `title OS (B)\nlinux /b/vmlinuz\noptions root=PARTUUID=${ROOT_B} rw quiet\n`,
    'EFI/AZLA/bootx64.efi': 'loader of volume A',
    'EFI/AZLB/bootx64.efi': 'loader of volume B',
    'EFI/BOOT/BOOTX64.EFI': 'loader of volume B',
  };
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(espDir, path, '..'), { recursive: true });
    await writeFile(join(espDir, path), content);
  }
}

const options = (extra: Record<string, unknown> = {}) => ({
  datastorePath,
  procDir: proc,
  sysDir: sys,
  espDir,
  ...extra,
});

describe('rollback chain, target and --check over a datastore', () => {
  it('after an install only: no rollback (none, [], {})', () => {
    record(INSTALLED());
    expect(checkRollback({ datastorePath })).toBe('none');
    expect(rollbackChain({ datastorePath })).toEqual([]);
    expect(rollbackTarget({ datastorePath })).toEqual({});
  });

  it('after an A/B update: ab, back to v1 on volume A', () => {
    record(AB_UPDATED());
    expect(checkRollback({ datastorePath })).toBe('ab');
    expect(rollbackChain({ datastorePath })).toEqual([
      { kind: 'ab', spec: spec(1), abActiveVolume: 'volume-a', installIndex: 0 },
    ]);
    expect(rollbackTarget({ datastorePath })).toEqual(spec(1));
  });

  it('after a runtime update on top: runtime first; --ab skips it; --runtime matches', () => {
    record(RUNTIME_UPDATED());
    expect(rollbackChain({ datastorePath }).map((i) => i.kind)).toEqual(['runtime', 'ab']);
    expect(checkRollback({ datastorePath })).toBe('runtime');
    expect(checkRollback({ datastorePath, request: 'runtime' })).toBe('runtime');
    expect(checkRollback({ datastorePath, request: 'ab' })).toBe('ab');
    expect(rollbackTarget({ datastorePath })).toEqual(spec(2));
  });

  it('--runtime when the next rollback is A/B: invalid-rollback-expectation', () => {
    record(AB_UPDATED());
    expect(() => checkRollback({ datastorePath, request: 'runtime' })).toThrow(
      expect.objectContaining({
        tridentError: expect.objectContaining({
          kind: 'INVALID_INPUT_ERROR',
          subkind: 'invalid-rollback-expectation',
        }),
      }),
    );
  });

  it('--ab with only runtime rollbacks in the chain: invalid-rollback-expectation', () => {
    record([
      ...INSTALLED(),
      { type: 'runtime-update-staged', spec: spec(1, { os: { netplan: NETPLAN } }) },
      { type: 'runtime-update-finalized' },
    ]);
    expect(checkRollback({ datastorePath })).toBe('runtime');
    expect(() => checkRollback({ datastorePath, request: 'ab' })).toThrow(/no A\/B rollback is available/u);
  });

  it('a second A/B update ends the chain: one A/B step back only', () => {
    record([
      ...AB_UPDATED(),
      { type: 'ab-update-staged', spec: spec(3) },
      { type: 'ab-update-finalized' },
      { type: 'committed' },
      { type: 'runtime-update-staged', spec: spec(3, { os: { netplan: NETPLAN } }) },
      { type: 'runtime-update-finalized' },
    ]);
    const chain = rollbackChain({ datastorePath });
    expect(chain.map((i) => [i.kind, (i.spec as { image: { url: string } }).image.url])).toEqual([
      ['runtime', 'file:///srv/os-v3.cosi'],
      ['ab', 'file:///srv/os-v2.cosi'],
    ]);
    expect(checkRollback({ datastorePath, request: 'ab' })).toBe('ab');
  });

  it('no datastore: host-not-provisioned, and none is created', async () => {
    expect(() => rollbackChain({ datastorePath })).toThrow(
      expect.objectContaining({ tridentError: expect.objectContaining({ subkind: 'host-not-provisioned' }) }),
    );
    await expect(stat(datastorePath)).rejects.toThrow(/ENOENT/u);
  });

  it('an unreadable newest row: invalid-rollback-expectation naming the row', async () => {
    record(AB_UPDATED());
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(datastorePath);
    db.prepare('INSERT INTO hoststatus (contents) VALUES (?)').run('servicingState: [not, a, state');
    db.close();
    expect(() => rollbackChain({ datastorePath })).toThrow(/newest Host Status \(row \d+/u);
    expect(() => checkRollback({ datastorePath })).toThrow(
      expect.objectContaining({
        tridentError: expect.objectContaining({ subkind: 'invalid-rollback-expectation' }),
      }),
    );
  });
});

describe('rollbackHost: states and operations', () => {
  it('in a state that allows no rollback (ab-update-staged): nothing to do, nothing written', async () => {
    record([...AB_UPDATED(), { type: 'ab-update-staged', spec: spec(3) }]);
    const before = rowCount();
    const outcome = await rollbackHost(options());
    expect(outcome).toEqual({
      result: 'nothing-to-do',
      state: 'ab-update-staged',
      reason: 'servicing state ab-update-staged allows no rollback',
    });
    expect(rowCount()).toBe(before);
  });

  it('provisioned with an empty chain: nothing to do', async () => {
    record(INSTALLED());
    const outcome = await rollbackHost(options());
    expect(outcome).toMatchObject({ result: 'nothing-to-do', state: 'provisioned' });
    expect(status().servicingState).toBe('provisioned');
  });

  it('stage only: manual-rollback-ab-staged with spec = target and specOld = current', async () => {
    record(AB_UPDATED());
    const outcome = await rollbackHost(options({ operations: parseAllowedOperations('stage') }));
    expect(outcome).toEqual({ result: 'staged', kind: 'ab', state: 'manual-rollback-ab-staged' });
    expect(status()).toMatchObject({
      servicingState: 'manual-rollback-ab-staged',
      spec: spec(1),
      specOld: spec(2),
      abActiveVolume: 'volume-b',
    });
    // Staged, the chain is empty (the newest row is not provisioned).
    expect(checkRollback({ datastorePath })).toBe('none');
  });

  it('finalize without a staged rollback: invalid-rollback-state, recorded as the last error', async () => {
    record(AB_UPDATED());
    await expect(rollbackHost(options({ operations: parseAllowedOperations('finalize') }))).rejects.toThrow(
      expect.objectContaining({
        tridentError: expect.objectContaining({
          kind: 'INVALID_INPUT_ERROR',
          subkind: 'invalid-rollback-state',
        }),
      }),
    );
    expect(status()).toMatchObject({
      servicingState: 'provisioned',
      lastError: expect.objectContaining({ error: 'invalid-rollback-state' }),
    });
  });

  it('a staged A/B rollback with --runtime: invalid-rollback-expectation, still staged', async () => {
    record(AB_UPDATED());
    await rollbackHost(options({ operations: parseAllowedOperations('stage') }));
    await expect(rollbackHost(options({ request: 'runtime' }))).rejects.toThrow(/already staged/u);
    expect(status().servicingState).toBe('manual-rollback-ab-staged');
  });
});

describe('A/B rollback finalize', () => {
  it('type #1 systemd-boot: the other volume’s entry becomes the default, EFI/BOOT its loader; commit on A completes it', async () => {
    record(AB_UPDATED());
    await typeOneEsp();
    await setSelected('os-b.conf');

    const outcome = await rollbackHost(options());

    expect(outcome).toEqual({
      result: 'finalized',
      kind: 'ab',
      needsReboot: true,
      boot: { volume: 'volume-a', uefiEntries: [], loaderEntryDefault: 'os-a.conf', fallbackFrom: 'AZLA' },
    });
    expect(await loaderEntryDefault()).toBe('os-a.conf');
    expect(await readFile(join(espDir, 'EFI/BOOT/BOOTX64.EFI'), 'utf8')).toBe('loader of volume A');
    expect(status()).toMatchObject({
      servicingState: 'manual-rollback-ab-finalized',
      spec: spec(1),
      specOld: spec(2),
      abActiveVolume: 'volume-b',
    });

    // The reboot lands on volume A; commit checks the root (no health checks) and flips the volume.
    await bootedFrom(device('sda2'));
    await setSelected('os-a.conf');
    const committed = await commitHost({ datastorePath, procDir: proc, sysDir: sys });
    expect(committed).toEqual({ result: 'committed', activeVolume: 'volume-a', checks: [] });
    const after = status();
    expect(after).toMatchObject({ servicingState: 'provisioned', spec: spec(1), abActiveVolume: 'volume-a' });
    expect(after.specOld).toBeUndefined();
    // The rollback hides the update it undid: nothing left to roll back.
    expect(checkRollback({ datastorePath })).toBe('none');
  });

  it('type #1: the volume’s own entry (token azla, written by an A/B update) wins over the install’s', async () => {
    record(AB_UPDATED());
    await typeOneEsp();
    await writeFile(
      join(espDir, 'loader/entries/azla-os.conf'),
      `title OS v3 (A)\nlinux /azla/vmlinuz\noptions root=PARTUUID=${ROOT_A} rw\n`,
    );
    await setSelected('azlb-os.conf');
    const outcome = await rollbackHost(options());
    expect(outcome).toMatchObject({ boot: { loaderEntryDefault: 'azla-os.conf' } });
    expect(await loaderEntryDefault()).toBe('azla-os.conf');
  });

  it('grub: the EFI/AZLA an A/B update gave volume A is what boots it (no systemd-boot variables)', async () => {
    record(AB_UPDATED());
    // What a grub update leaves: A's loader under its name, B's beside it, EFI/BOOT as installed.
    for (const [path, text] of [
      ['EFI/AZLA/bootx64.efi', 'grub of volume A'],
      ['EFI/AZLB/bootx64.efi', 'grub of volume B'],
      ['EFI/BOOT/BOOTX64.EFI', 'grub of volume A'],
    ] as const) {
      await mkdir(join(espDir, path, '..'), { recursive: true });
      await writeFile(join(espDir, path), text);
    }
    const outcome = await rollbackHost(options());
    // efivars here is a plain directory: no UEFI entry; on a host, AZLA's entry becomes BootNext.
    expect(outcome).toMatchObject({
      result: 'finalized',
      boot: { volume: 'volume-a', uefiEntries: [], loaderEntryDefault: undefined, fallbackFrom: 'AZLA' },
    });
    expect(await readFile(join(espDir, 'EFI/BOOT/BOOTX64.EFI'), 'utf8')).toBe('grub of volume A');
  });

  it('UKI: the previous Trident UKI becomes LoaderEntryDefault', async () => {
    record(AB_UPDATED());
    await mkdir(join(espDir, 'EFI/Linux'), { recursive: true });
    for (const name of ['vmlinuz-100-azla0.efi', 'vmlinuz-101-azlb0.efi', 'vmlinuz-6.1.0.efi'])
      await writeFile(join(espDir, 'EFI/Linux', name), name);
    await setSelected('vmlinuz-101-azlb0.efi');

    const outcome = await rollbackHost(options());

    expect(outcome).toMatchObject({
      result: 'finalized',
      boot: { loaderEntryDefault: 'vmlinuz-100-azla0.efi' },
    });
    expect(await loaderEntryDefault()).toBe('vmlinuz-100-azla0.efi');
  });

  it('nothing boots the other volume: manual-rollback error, stays staged; fixed and re-run, it finishes', async () => {
    record(AB_UPDATED());
    await mkdir(espDir, { recursive: true });

    await expect(rollbackHost(options())).rejects.toThrow(
      expect.objectContaining({ code: 'ENGINE_ROLLBACK_NO_BOOT_PATH' }),
    );
    expect(status()).toMatchObject({
      servicingState: 'manual-rollback-ab-staged',
      lastError: expect.objectContaining({ error: 'manual-rollback' }),
    });

    // The interrupted (failed) finalize is finished by running rollback again.
    await typeOneEsp();
    const outcome = await rollbackHost(options());
    expect(outcome).toMatchObject({ result: 'finalized', kind: 'ab', boot: { fallbackFrom: 'AZLA' } });
    expect(status()).toMatchObject({ servicingState: 'manual-rollback-ab-finalized' });
    expect(status().lastError).toBeUndefined();
  });

  it('an ESP that is not mounted is edited in place with mtools (a real FAT image)', async () => {
    const image = device('sda1');
    await rm(image);
    await run('mkfs.vfat', ['-C', '-n', 'ESP', image, String(34 * 1024)]);
    const fat = createImageEsp({ image });
    await fat.write('/EFI/AZLA/bootx64.efi', 'loader of volume A');
    await fat.write('/EFI/AZLB/bootx64.efi', 'loader of volume B');
    await fat.write('/EFI/BOOT/BOOTX64.EFI', 'loader of volume B');
    record(AB_UPDATED());

    // No espDir: /boot/efi is not in mountinfo, so the recorded partition is used.
    const outcome = await rollbackHost(options({ espDir: undefined }));

    expect(outcome).toMatchObject({ result: 'finalized', boot: { fallbackFrom: 'AZLA' } });
    expect((await fat.read('/EFI/BOOT/BOOTX64.EFI'))?.toString()).toBe('loader of volume A');
  });

  it('noTransition in the target: finalized without asking for a reboot', async () => {
    const target = { ...spec(1), internalParams: { noTransition: true } };
    record([
      { type: 'clean-install-started' },
      { type: 'clean-install-staged', spec: target, partitionPaths: PATHS(), installIndex: 0 },
      { type: 'clean-install-finalized' },
      { type: 'committed' },
      ...AB_UPDATED().slice(-3),
    ]);
    await typeOneEsp();
    const outcome = await rollbackHost(options());
    expect(outcome).toMatchObject({ result: 'finalized', kind: 'ab', needsReboot: false });
    expect(status().servicingState).toBe('manual-rollback-ab-finalized');
  });
});

describe('runtime rollback finalize', () => {
  it('back to the spec without netplan: provisioned with it, specOld cleared, runtime checks run', async () => {
    const marker = join(dir, 'checked');
    record([
      ...AB_UPDATED().slice(0, -3),
      {
        type: 'ab-update-staged',
        spec: spec(2, {
          health: { checks: [{ name: 'marker', runOn: ['runtime-update'], content: `echo ok > ${marker}` }] },
        }),
      },
      { type: 'ab-update-finalized' },
      { type: 'committed' },
      {
        type: 'runtime-update-staged',
        spec: spec(2, {
          os: { netplan: NETPLAN },
          health: { checks: [{ name: 'marker', runOn: ['runtime-update'], content: `echo ok > ${marker}` }] },
        }),
      },
      { type: 'runtime-update-finalized' },
    ]);

    const outcome = await rollbackHost(options({ rootDir: join(dir, 'root') }));

    expect(outcome).toEqual({
      result: 'finalized',
      kind: 'runtime',
      needsReboot: false,
      netplanApplied: false,
      checks: ['marker'],
    });
    expect(await readFile(marker, 'utf8')).toBe('ok\n');
    const after = status();
    expect(after).toMatchObject({ servicingState: 'provisioned', abActiveVolume: 'volume-b' });
    expect((after.spec as { os?: unknown }).os).toBeUndefined();
    expect(after.specOld).toBeUndefined();
    // The runtime rollback hides the runtime update: the A/B update is next.
    expect(checkRollback({ datastorePath })).toBe('ab');
  });

  it('back to a spec with netplan: the file is written (0600) in the root, as a runtime update writes it', async () => {
    const older = { version: 2, ethernets: { eth0: { dhcp4: false, addresses: ['10.0.0.5/24'] } } };
    record([
      ...INSTALLED(),
      { type: 'runtime-update-staged', spec: spec(1, { os: { netplan: older } }) },
      { type: 'runtime-update-finalized' },
      { type: 'runtime-update-staged', spec: spec(1, { os: { netplan: NETPLAN } }) },
      { type: 'runtime-update-finalized' },
    ]);
    const root = join(dir, 'root');

    // Another root than `/` gets the file only: `netplan generate`/`apply` act on the live host,
    // which the VM test (sysext-runtime) covers.
    await expect(rollbackHost(options({ rootDir: root }))).resolves.toMatchObject({
      result: 'finalized',
      kind: 'runtime',
      netplanApplied: true,
    });
    const file = join(root, 'etc/netplan/99-trident.yaml');
    expect(await readFile(file, 'utf8')).toContain('10.0.0.5/24');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(status().servicingState).toBe('provisioned');
  });

  it('a runtime rollback of a sysext takes its image out of the root; the recorded spec drops it', async () => {
    const root = join(dir, 'root-sysext');
    const image = join(root, 'var/lib/extensions/tools.raw');
    await mkdir(join(root, 'var/lib/extensions'), { recursive: true });
    await writeFile(image, 'placed by the runtime update');
    const sysext = {
      url: 'file:///srv/tools.raw',
      sha384: 'a'.repeat(96),
      path: '/var/lib/extensions/tools.raw',
    };
    record([
      ...INSTALLED(),
      { type: 'runtime-update-staged', spec: spec(1, { os: { sysexts: [sysext] } }) },
      { type: 'runtime-update-finalized' },
    ]);
    const outcome = await rollbackHost(options({ rootDir: root }));
    expect(outcome).toMatchObject({ result: 'finalized', kind: 'runtime' });
    await expect(stat(image)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(join(root, 'var/lib/extensions/.staging'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(status()).toMatchObject({ servicingState: 'provisioned' });
    expect((status().spec as { os?: { sysexts?: unknown } }).os?.sysexts).toBeUndefined();
  });

  it('failing runtime health checks: health-checks-failed, the rollback stays staged', async () => {
    const failing = { checks: [{ name: 'fails', runOn: ['runtime-update'], content: 'exit 3' }] };
    const target = spec(1, { health: failing });
    record([
      { type: 'clean-install-started' },
      { type: 'clean-install-staged', spec: target, partitionPaths: PATHS(), installIndex: 0 },
      { type: 'clean-install-finalized' },
      { type: 'committed' },
      { type: 'runtime-update-staged', spec: spec(1, { os: { netplan: NETPLAN }, health: failing }) },
      { type: 'runtime-update-finalized' },
    ]);
    await expect(rollbackHost(options())).rejects.toThrow(
      expect.objectContaining({
        tridentError: expect.objectContaining({
          kind: 'HEALTH_CHECKS_ERROR',
          subkind: 'health-checks-failed',
        }),
      }),
    );
    expect(status()).toMatchObject({
      servicingState: 'manual-rollback-runtime-staged',
      spec: target,
      lastError: expect.objectContaining({ error: 'health-checks-failed' }),
    });
  });
});
