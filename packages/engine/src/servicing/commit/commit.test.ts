import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type HostStatus, openDatastore, type ServicingEvent } from '@trident/datastore';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { commitHost } from './commit.ts';

/**
 * Commit over real datastores in a temp dir. The "system" is a temp tree: device nodes are files
 * reached through by-partuuid symlinks, as Trident records them; `/proc/self/mountinfo` names the
 * device at `/`; `/sys` holds efivars (a plain directory, so BootOrder is never touched) and, for
 * verity, the dm device's `slaves`. Health checks are real scripts run by os-config.
 */
let dir: string;
let proc: string;
let sys: string;
let efivars: string;
let datastorePath: string;

const LOADER_GUID = '4a67b082-0a4c-41cf-b6c7-440b29bb8c4f';

function device(name: string): string {
  return join(dir, 'dev', name);
}
function byPartuuid(uuid: string): string {
  return join(dir, 'dev/disk/by-partuuid', uuid);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'commit-'));
  proc = join(dir, 'proc');
  sys = join(dir, 'sys');
  efivars = join(sys, 'firmware/efi/efivars');
  datastorePath = join(dir, 'var/lib/trident/datastore.sqlite');
  await mkdir(join(proc, 'self'), { recursive: true });
  await mkdir(efivars, { recursive: true });
  await mkdir(join(dir, 'dev/disk/by-partuuid'), { recursive: true });
  for (const [name, uuid] of [
    ['sda1', 'esp-uuid'],
    ['sda2', 'root-a-uuid'],
    ['sda3', 'root-b-uuid'],
    ['sda4', 'hash-a-uuid'],
    ['sda5', 'hash-b-uuid'],
  ] as const) {
    await writeFile(device(name), '');
    await symlink(device(name), byPartuuid(uuid));
  }
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const PATHS = () => ({
  esp: byPartuuid('esp-uuid'),
  'root-a': byPartuuid('root-a-uuid'),
  'root-b': byPartuuid('root-b-uuid'),
  'hash-a': byPartuuid('hash-a-uuid'),
  'hash-b': byPartuuid('hash-b-uuid'),
});

function spec(options: { checks?: unknown[]; verity?: boolean } = {}): Record<string, unknown> {
  const partitions = [
    { id: 'esp', type: 'esp', size: '100M' },
    { id: 'root-a', type: 'root', size: '1G' },
    { id: 'root-b', type: 'root', size: '1G' },
    // The datastore must survive A/B updates (HC_DATASTORE_ON_AB): its own partition.
    { id: 'trident', type: 'linux-generic', size: '100M' },
    ...(options.verity
      ? [
          { id: 'hash-a', type: 'root-verity', size: '100M' },
          { id: 'hash-b', type: 'root-verity', size: '100M' },
          // Root verity needs /boot and the /etc overlay's upper layer on A/B pairs of their own.
          { id: 'boot-a', type: 'xbootldr', size: '200M' },
          { id: 'boot-b', type: 'xbootldr', size: '200M' },
          { id: 'overlay-a', type: 'linux-generic', size: '100M' },
          { id: 'overlay-b', type: 'linux-generic', size: '100M' },
        ]
      : []),
  ];
  const pairs = [{ id: 'root', volumeAId: 'root-a', volumeBId: 'root-b' }];
  if (options.verity)
    pairs.push(
      { id: 'root-hash', volumeAId: 'hash-a', volumeBId: 'hash-b' },
      { id: 'boot', volumeAId: 'boot-a', volumeBId: 'boot-b' },
      { id: 'overlay', volumeAId: 'overlay-a', volumeBId: 'overlay-b' },
    );
  return {
    image: { url: 'file:///srv/os.cosi', sha384: 'ignored' },
    storage: {
      disks: [{ id: 'os', device: '/dev/sda', partitionTableType: 'gpt', partitions }],
      abUpdate: { volumePairs: pairs },
      ...(options.verity
        ? { verity: [{ id: 'root-verity', name: 'root', dataDeviceId: 'root', hashDeviceId: 'root-hash' }] }
        : {}),
      filesystems: [
        { deviceId: 'esp', mountPoint: { path: '/boot/efi', options: 'umask=0077' } },
        options.verity
          ? { deviceId: 'root-verity', mountPoint: { path: '/', options: 'defaults,ro' } }
          : { deviceId: 'root', mountPoint: '/' },
        ...(options.verity
          ? [
              { deviceId: 'boot', mountPoint: '/boot' },
              { deviceId: 'overlay', source: 'new', type: 'ext4', mountPoint: '/var/lib/trident-overlay' },
              { source: 'new', type: 'tmpfs', mountPoint: '/var/tmp' },
            ]
          : []),
        { deviceId: 'trident', source: 'new', type: 'ext4', mountPoint: '/var/lib/trident' },
      ],
    },
    ...(options.checks ? { health: { checks: options.checks } } : {}),
  };
}

function record(events: ServicingEvent[]): void {
  const store = openDatastore(datastorePath, { create: true });
  try {
    for (const event of events) store.apply(event);
  } finally {
    store.close();
  }
}

function installed(s: Record<string, unknown>): ServicingEvent[] {
  return [
    { type: 'clean-install-started' },
    { type: 'clean-install-staged', spec: s, partitionPaths: PATHS(), installIndex: 0 },
    { type: 'clean-install-finalized' },
  ];
}

function status(): HostStatus {
  const store = openDatastore(datastorePath, { readOnly: true });
  try {
    return store.current();
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

const options = () => ({ datastorePath, procDir: proc, sysDir: sys });

describe('trident commit after a clean install', () => {
  it('on volume A with passing checks: provisioned, volume A active, the booted entry made default', async () => {
    const marker = join(dir, 'checked');
    record(
      installed(
        spec({
          checks: [
            { name: 'marker', runOn: ['clean-install'], content: `echo "$SERVICING_TYPE" > ${marker}` },
          ],
        }),
      ),
    );
    await bootedFrom(device('sda2'));
    // systemd-boot says which entry it booted (UTF-16LE after the attribute word).
    const selected = Buffer.concat([
      Buffer.from([7, 0, 0, 0]),
      Buffer.from('vmlinuz-100-azla0.efi\0', 'utf16le'),
    ]);
    await writeFile(join(efivars, `LoaderEntrySelected-${LOADER_GUID}`), selected);

    const outcome = await commitHost(options());

    expect(outcome).toEqual({ result: 'committed', activeVolume: 'volume-a', checks: ['marker'] });
    expect(await readFile(marker, 'utf8')).toBe('clean_install\n');
    expect(status()).toMatchObject({ servicingState: 'provisioned', abActiveVolume: 'volume-a' });
    expect(status().lastError).toBeUndefined();
    expect(await readFile(join(efivars, `LoaderEntryDefault-${LOADER_GUID}`))).toEqual(selected);
    // A second run (the unit at the next boot) has nothing to do.
    expect(await commitHost(options())).toEqual({ result: 'nothing-to-do', state: 'provisioned' });
  });

  it('a verity root is recognised through the dm device built over volume A', async () => {
    record(installed(spec({ verity: true })));
    await writeFile(device('dm-0'), '');
    await mkdir(join(sys, 'class/block/dm-0/slaves/sda2'), { recursive: true });
    await mkdir(join(sys, 'class/block/dm-0/slaves/sda4'), { recursive: true });
    await bootedFrom(device('dm-0'));
    expect(await commitHost(options())).toMatchObject({ result: 'committed', activeVolume: 'volume-a' });
    expect(status().servicingState).toBe('provisioned');
  });

  it('booted from another root: not-provisioned, spec cleared, clean-install-reboot-check recorded', async () => {
    record(installed(spec()));
    await bootedFrom(device('sda3'));
    const error = await commitHost(options()).catch((e: unknown) => e);
    expect(error).toMatchObject({
      tridentError: { kind: 'SERVICING_ERROR', subkind: 'clean-install-reboot-check' },
    });
    expect(status()).toMatchObject({
      servicingState: 'not-provisioned',
      spec: {},
      lastError: { error: 'clean-install-reboot-check', category: 'servicing' },
    });
  });

  it('an expected root that does not resolve fails without a transition: the next boot tries again', async () => {
    record(installed(spec()));
    await rm(byPartuuid('root-a-uuid'));
    await bootedFrom(device('sda2'));
    const error = await commitHost(options()).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'ENGINE_COMMIT_EXPECTED_ROOT_MISSING',
      tridentError: { kind: 'SERVICING_ERROR', subkind: 'get-root-device' },
    });
    expect(status()).toMatchObject({
      servicingState: 'clean-install-finalized',
      lastError: { error: 'get-root-device' },
    });
  });

  it('a failing check: not-provisioned with health-checks-failed, and a report beside the datastore', async () => {
    record(
      installed(
        spec({
          checks: [
            { name: 'fine', runOn: ['all'], content: 'true' },
            { name: 'broken', runOn: ['all'], content: 'echo disk is sad >&2; exit 3' },
          ],
        }),
      ),
    );
    await bootedFrom(device('sda2'));
    const error = await commitHost(options()).catch((e: unknown) => e);
    expect(error).toMatchObject({
      tridentError: { kind: 'HEALTH_CHECKS_ERROR', subkind: 'health-checks-failed' },
    });
    expect(status()).toMatchObject({
      servicingState: 'not-provisioned',
      lastError: { error: 'health-checks-failed', category: 'health-checks' },
    });
    expect(String(status().lastError?.cause)).toContain('broken');
    const reports = (await readdir(join(dir, 'var/lib/trident'))).filter((f) =>
      f.startsWith('trident-health-check-failure-'),
    );
    expect(reports).toHaveLength(1);
    expect(await readFile(join(dir, 'var/lib/trident', reports[0]!), 'utf8')).toContain('broken');
  });
});

describe('trident commit in other states', () => {
  it('no datastore: host-not-provisioned, and nothing created', async () => {
    const error = await commitHost(options()).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'ENGINE_HOST_NOT_PROVISIONED',
      tridentError: { subkind: 'host-not-provisioned' },
    });
    expect(await readdir(dir)).not.toContain('var');
  });

  it('an A/B update whose checks fail asks for a reboot; back on A the rollback is recorded', async () => {
    const A = spec();
    const B = spec({ checks: [{ name: 'no', runOn: ['ab-update'], content: 'exit 1' }] });
    (B['image'] as Record<string, string>)['url'] = 'file:///srv/os-b.cosi';
    record([
      ...installed(A),
      { type: 'committed' },
      { type: 'ab-update-staged', spec: B },
      { type: 'ab-update-finalized' },
    ]);
    await bootedFrom(device('sda3'));
    const outcome = await commitHost(options());
    expect(outcome).toMatchObject({
      result: 'needs-reboot',
      error: { tridentError: { subkind: 'health-checks-failed' } },
    });
    expect(status()).toMatchObject({
      servicingState: 'ab-update-health-check-failed',
      abActiveVolume: 'volume-a',
      lastError: { error: 'health-checks-failed' },
    });

    // The one-shot boot is spent: the firmware boots volume A again.
    await bootedFrom(device('sda2'));
    const error = await commitHost(options()).catch((e: unknown) => e);
    expect(error).toMatchObject({
      tridentError: { kind: 'HEALTH_CHECKS_ERROR', subkind: 'ab-update-health-check-commit-check' },
    });
    expect(status()).toMatchObject({
      servicingState: 'provisioned',
      abActiveVolume: 'volume-a',
      spec: A,
      lastError: { error: 'health-checks-failed' },
    });
  });

  it('an A/B update booted on volume B with no checks commits and flips the active volume', async () => {
    const B = spec();
    (B['image'] as Record<string, string>)['url'] = 'file:///srv/os-b.cosi';
    record([
      ...installed(spec()),
      { type: 'committed' },
      { type: 'ab-update-staged', spec: B },
      { type: 'ab-update-finalized' },
    ]);
    await bootedFrom(byPartuuid('root-b-uuid'));
    expect(await commitHost(options())).toMatchObject({ result: 'committed', activeVolume: 'volume-b' });
    expect(status()).toMatchObject({ servicingState: 'provisioned', abActiveVolume: 'volume-b', spec: B });
  });
});

describe('trident commit and the UEFI fallback path (os.uefiFallback)', () => {
  async function espWith(files: Record<string, string>): Promise<string> {
    const esp = join(dir, 'esp');
    for (const [path, content] of Object.entries(files)) {
      await mkdir(join(esp, path, '..'), { recursive: true });
      await writeFile(join(esp, path), content);
    }
    return esp;
  }

  async function commitUpdateToB(mode: string | undefined, esp: string): Promise<void> {
    const B = spec();
    (B['image'] as Record<string, string>)['url'] = 'file:///srv/os-b.cosi';
    if (mode !== undefined) B['os'] = { uefiFallback: mode };
    record([
      ...installed(spec()),
      { type: 'committed' },
      { type: 'ab-update-staged', spec: B },
      { type: 'ab-update-finalized' },
    ]);
    await bootedFrom(byPartuuid('root-b-uuid'));
    expect(await commitHost({ ...options(), espDir: esp })).toMatchObject({
      result: 'committed',
      activeVolume: 'volume-b',
    });
  }

  const GRUB_ESP = {
    'EFI/AZLA/bootx64.efi': 'grub of A',
    'EFI/AZLA/grub.cfg': 'config of A',
    'EFI/AZLB/bootx64.efi': 'grub of B',
    'EFI/AZLB/grub.cfg': 'config of B',
    'EFI/BOOT/BOOTX64.EFI': 'grub of A',
    'EFI/BOOT/grub.cfg': 'config of A',
  };

  it('conservative (the default): once B passed its commit, EFI/BOOT becomes a copy of EFI/AZLB', async () => {
    const esp = await espWith(GRUB_ESP);
    await commitUpdateToB(undefined, esp);
    expect(await readFile(join(esp, 'EFI/BOOT/BOOTX64.EFI'), 'utf8')).toBe('grub of B');
    expect(await readFile(join(esp, 'EFI/BOOT/grub.cfg'), 'utf8')).toBe('config of B');
  });

  it('optimistic: commit leaves EFI/BOOT as finalize made it', async () => {
    const esp = await espWith(GRUB_ESP);
    await commitUpdateToB('optimistic', esp);
    expect(await readFile(join(esp, 'EFI/BOOT/BOOTX64.EFI'), 'utf8')).toBe('grub of A');
  });

  it('an ESP without per-volume directories (systemd-boot) is left alone, and the commit stands', async () => {
    const esp = await espWith({ 'EFI/BOOT/BOOTX64.EFI': 'systemd-boot' });
    await commitUpdateToB(undefined, esp);
    expect(await readFile(join(esp, 'EFI/BOOT/BOOTX64.EFI'), 'utf8')).toBe('systemd-boot');
    expect(status()).toMatchObject({ servicingState: 'provisioned', abActiveVolume: 'volume-b' });
  });
});
