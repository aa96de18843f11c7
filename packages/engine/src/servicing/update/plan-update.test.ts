/**
 * The update's entry checks, without root: the datastore is a real SQLite file written through the
 * servicing events install and commit apply, the "partitions" are files (the checks compare
 * canonical paths, as they compare device nodes on a host), and /proc/self/mountinfo is a prepared
 * file saying which of them is mounted at /.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createImageEsp, LOADER_VENDOR_GUID } from '@trident/boot-config';
import { fakeUki } from '@trident/boot-config/test-support/fake-uki';
import { openDatastore } from '@trident/datastore';
import { DEMO_IDS } from '@trident/test-support/disk-image';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { discardPlan, plan, run } from '../../engine.ts';
import { createDemoCosi, type DemoCosi } from '../../test-support/demo-cosi.ts';
import { abConfig } from '../../test-support/host-configs.ts';
import { parseRequestConfiguration } from '../host/parse-config.ts';
import type { UpdateRequest } from './request.ts';

let dir: string;
let cosi: DemoCosi;
let datastorePath: string;
let procDir: string;
const IDS = ['esp', 'root-a', 'root-b', 'swap', 'trident', 'data'];

const installed = (extra = '') => abConfig(`file://${cosi.path}`, cosi.metadataSha384, extra);

async function provision(
  text: string,
  options: {
    state?: 'provisioned' | 'clean-install-finalized' | 'ab-update-staged';
    stagedText?: string;
  } = {},
): Promise<void> {
  await rm(datastorePath, { force: true });
  const partitionPaths = Object.fromEntries(IDS.map((id) => [id, join(dir, 'dev', id)]));
  const store = openDatastore(datastorePath, { create: true });
  try {
    store.apply({ type: 'clean-install-started' });
    store.apply({
      type: 'clean-install-staged',
      spec: parseRequestConfiguration({ text }).spec,
      partitionPaths,
      installIndex: 0,
    });
    store.apply({ type: 'clean-install-finalized' });
    if (options.state === 'clean-install-finalized') return;
    store.apply({ type: 'committed' });
    if (options.state === 'ab-update-staged')
      store.apply({
        type: 'ab-update-staged',
        spec: parseRequestConfiguration({ text: options.stagedText! }).spec,
      });
  } finally {
    store.close();
  }
}

async function mountRoot(id: string): Promise<void> {
  await writeFile(
    join(procDir, 'self/mountinfo'),
    `22 1 259:2 / / rw,relatime shared:1 - ext4 ${join(dir, 'dev', id)} rw\n`,
  );
}

function request(text: string, extra: Partial<UpdateRequest> = {}): UpdateRequest {
  return {
    kind: 'update',
    hostConfiguration: { text, path: 'update.yaml' },
    datastorePath,
    system: { procDir, sysDir: join(dir, 'sys'), osReleasePath: join(dir, 'os-release') },
    ...extra,
  };
}

async function refusal(
  req: UpdateRequest,
): Promise<{ kind: string; subkind: string; code: string; errorMessage: string }> {
  try {
    const planned = await plan(req);
    await discardPlan(planned);
  } catch (error) {
    return (error as { tridentError: { kind: string; subkind: string; code: string; errorMessage: string } })
      .tridentError;
  }
  throw new Error('the plan was not refused');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'plan-update-'));
  cosi = await createDemoCosi(dir);
  await mkdir(join(dir, 'dev'));
  for (const id of IDS) await writeFile(join(dir, 'dev', id), '');
  procDir = join(dir, 'proc');
  await mkdir(join(procDir, 'self'), { recursive: true });
  datastorePath = join(dir, 'trident', 'datastore.sqlite');
});

beforeEach(async () => {
  await mountRoot('root-a');
  await writeFile(join(dir, 'os-release'), 'ID=debian\nVERSION_ID="12"\n');
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('update entry checks', () => {
  it('a host without a datastore is not provisioned', async () => {
    const info = await refusal(request(installed(), { datastorePath: join(dir, 'missing.sqlite') }));
    expect(info).toMatchObject({ kind: 'INVALID_INPUT_ERROR', subkind: 'host-not-provisioned' });
  });

  it('an install waiting for its first boot cannot be updated', async () => {
    await provision(installed(), { state: 'clean-install-finalized' });
    const info = await refusal(request(installed('os:\n  hostname: next\n')));
    expect(info).toMatchObject({ subkind: 'unexpected-servicing-state', code: 'ENGINE_UPDATE_BAD_STATE' });
    expect(info.errorMessage).toContain('clean-install-finalized');
  });

  it('an identical configuration plans nothing and the run records nothing', async () => {
    await provision(installed());
    const planned = await plan(request(installed()));
    expect(planned.steps).toEqual([]);
    expect(planned.warnings.join('\n')).toMatch(/nothing to update/u);
    const rows = () => {
      const store = openDatastore(datastorePath, { readOnly: true });
      try {
        return store.history().length;
      } finally {
        store.close();
      }
    };
    const before = rows();
    const result = await run(planned);
    expect(result).toMatchObject({ status: 'success', rebootRequired: false });
    expect(rows()).toBe(before);
  });

  it('a runtime-only change is a runtime update: staged without touching the volumes, then finalize-only', async () => {
    await provision(installed());
    const netplan = installed(
      'os:\n  netplan:\n    version: 2\n    ethernets:\n      e:\n        dhcp4: true\n',
    );
    const staging = await plan(request(netplan, { allowedOperations: { stage: true, finalize: false } }));
    expect(staging.steps[0]).toBe('Servicing type: runtime update (os.netplan changed)');
    expect(staging.images).toEqual([]);
    expect(staging.steps.at(-1)).toMatch(/^Finalize not allowed/u);
    // Stage only: netplan has no image to download, so nothing on this machine changes.
    expect(await run(staging)).toMatchObject({
      status: 'success',
      servicingKind: 'runtime-update',
      rebootRequired: false,
    });
    const store = openDatastore(datastorePath, { readOnly: true });
    try {
      expect(store.current()).toMatchObject({ servicingState: 'runtime-update-staged' });
    } finally {
      store.close();
    }
    // The same configuration again finalizes the staged runtime update (not run here: it would
    // apply netplan to this machine; the VM test sysext-runtime runs it).
    const finalizing = await plan(request(netplan));
    expect(finalizing.steps).toEqual([expect.stringMatching(/^Apply netplan, move images into place/u)]);
    await discardPlan(finalizing);
  });

  it('changed storage is refused', async () => {
    await provision(installed());
    const info = await refusal(
      request(installed('os:\n  hostname: next\n').replace('trident, size: 16M', 'trident, size: 20M')),
    );
    expect(info).toMatchObject({
      subkind: 'storage-configuration-changed',
      code: 'ENGINE_UPDATE_STORAGE_CHANGED',
    });
  });

  it('the host running volume B while A is recorded active is refused (validate-ab-active-volume)', async () => {
    await provision(installed());
    await mountRoot('root-b');
    const info = await refusal(request(installed('os:\n  hostname: next\n')));
    expect(info).toMatchObject({
      subkind: 'validate-ab-active-volume',
      code: 'ENGINE_UPDATE_ACTIVE_VOLUME_MISMATCH',
    });
  });

  it('a root that is neither volume is refused (root-device-path-ab-active-volume-mismatch)', async () => {
    await provision(installed());
    await mountRoot('data');
    const info = await refusal(request(installed('os:\n  hostname: next\n')));
    expect(info).toMatchObject({ subkind: 'root-device-path-ab-active-volume-mismatch' });
    expect(info.errorMessage).toContain(join(dir, 'dev', 'data'));
  });

  it('an image of another OS family is refused (mismatched-os-release)', async () => {
    await provision(installed());
    await writeFile(join(dir, 'os-release'), 'ID=azurelinux\nVERSION_ID="3.0"\n');
    const info = await refusal(request(installed('os:\n  hostname: next\n')));
    expect(info).toMatchObject({ subkind: 'mismatched-os-release', code: 'ENGINE_UPDATE_OS_RELEASE' });
    expect(info.errorMessage).toContain('ID=azurelinux');
  });

  it("a grub image whose root filesystem has the running volume's UUID is refused (duplicate-fs-uuid-ab-update)", async () => {
    await provision(installed());
    // The running volume holds the demo image's own root filesystem, UUID and all, as after install.
    await writeFile(join(dir, 'os-release'), 'ID=demo\nVERSION_ID="1.0"\n');
    const rootA = join(dir, 'dev', 'root-a');
    await truncate(rootA, 8 * 1024 * 1024);
    await promisify(execFile)('mkfs.ext4', ['-q', '-F', '-U', DEMO_IDS.rootFsUuid, rootA]);
    try {
      const info = await refusal(request(installed('os:\n  hostname: next\n')));
      expect(info).toMatchObject({
        subkind: 'duplicate-fs-uuid-ab-update',
        code: 'ENGINE_UPDATE_DUPLICATE_FS_UUID',
      });
      expect(info.errorMessage).toContain(DEMO_IDS.rootFsUuid);
    } finally {
      await writeFile(rootA, '');
    }
  });

  it('with stage not allowed a changed configuration plans nothing', async () => {
    await provision(installed());
    const planned = await plan(
      request(installed('os:\n  hostname: next\n'), { allowedOperations: { stage: false, finalize: true } }),
    );
    expect(planned.steps).toEqual([]);
    expect(planned.warnings.join('\n')).toMatch(/stage is not allowed/u);
    await discardPlan(planned);
  });

  it('finalize-only of a staged grub volume directory: told apart on the ESP, refused without efivarfs before anything is recorded', async () => {
    const next = installed('os:\n  hostname: next\n');
    await provision(installed(), { state: 'ab-update-staged', stagedText: next });
    // The host's ESP partition as stage leaves it on a grub host: EFI/AZLB, no loader entries.
    const esp = join(dir, 'dev', 'esp');
    await rm(esp);
    await promisify(execFile)('mkfs.vfat', ['-C', '-n', 'ESP', esp, String(34 * 1024)]);
    try {
      await createImageEsp({ image: esp }).write('/EFI/AZLB/bootx64.efi', 'grub of volume B');
      const planned = await plan(request(next));
      expect(planned.steps.join('\n')).toMatch(/BootNext/u);
      const result = await run(planned);
      // efivars is a plain directory here: no BootNext can be written, so the state stays staged.
      expect(result).toMatchObject({
        status: 'failure',
        error: { subkind: 'set-boot-entries', code: 'ENGINE_UPDATE_NO_EFIVARS' },
      });
      const store = openDatastore(datastorePath, { readOnly: true });
      try {
        expect(store.current().servicingState).toBe('ab-update-staged');
      } finally {
        store.close();
      }
    } finally {
      await writeFile(esp, '');
    }
  });

  it('finalize-only of a staged UKI: told apart on the ESP, the running UKI pinned, the new one named and tried once', async () => {
    const next = installed('os:\n  hostname: next\n');
    await provision(installed(), { state: 'ab-update-staged', stagedText: next });
    const esp = join(dir, 'dev', 'esp');
    await rm(esp);
    await promisify(execFile)('mkfs.vfat', ['-C', '-n', 'ESP', esp, String(34 * 1024)]);
    const efivars = join(dir, 'sys', 'firmware/efi/efivars');
    await mkdir(efivars, { recursive: true });
    const variable = async (name: string) =>
      (await readFile(join(efivars, `${name}-${LOADER_VENDOR_GUID}`)).catch(() => undefined))
        ?.subarray(4)
        .toString('utf16le')
        .replace(/\0+$/u, '');
    try {
      const volume = createImageEsp({ image: esp });
      await volume.write('/EFI/Linux/vmlinuz-6.1.efi', fakeUki('rw'));
      await volume.write('/EFI/Linux/vmlinuz-0.efi.staged', fakeUki('rw'));
      await writeFile(
        join(efivars, `LoaderEntrySelected-${LOADER_VENDOR_GUID}`),
        Buffer.concat([Buffer.from([6, 0, 0, 0]), Buffer.from('vmlinuz-6.1.efi\0', 'utf16le')]),
      );
      const planned = await plan(request(next));
      expect(planned.steps.join('\n')).toMatch(/staged UKI/u);
      const result = await run(planned);
      expect(result.error?.message ?? '').toBe('');
      expect(result).toMatchObject({ status: 'success', rebootRequired: true });
      expect((await volume.list('/EFI/Linux'))?.map((e) => e.name).sort()).toEqual([
        'vmlinuz-100-azlb0.efi',
        'vmlinuz-6.1.efi',
      ]);
      expect(await variable('LoaderEntryDefault')).toBe('vmlinuz-6.1.efi');
      expect(await variable('LoaderEntryOneShot')).toBe('vmlinuz-100-azlb0.efi');
      const store = openDatastore(datastorePath, { readOnly: true });
      try {
        expect(store.current().servicingState).toBe('ab-update-finalized');
      } finally {
        store.close();
      }
    } finally {
      await writeFile(esp, '');
      await rm(join(dir, 'sys'), { recursive: true, force: true });
    }
  });

  it('a UKI image is no longer refused for its bootloader, but is when its root filesystem UUID is the running one', async () => {
    await provision(installed());
    await writeFile(join(dir, 'os-release'), 'ID=demo\nVERSION_ID="1.0"\n');
    const ukiDir = join(dir, 'uki');
    await mkdir(ukiDir, { recursive: true });
    const uki = await createDemoCosi(ukiDir, {
      espFiles: { 'EFI/Linux/vmlinuz-6.1.efi': fakeUki(`root=UUID=${DEMO_IDS.rootFsUuid} rw`) },
    });
    const text = abConfig(`file://${uki.path}`, uki.metadataSha384, 'os:\n  hostname: next\n');
    // Planning goes on to the update volume's partitions, which must be block devices (the loop
    // device e2e test, tests/e2e update.test.ts, plans and runs it whole).
    const accepted = await plan(request(text)).catch((error: unknown) => error);
    expect(accepted).toMatchObject({ code: 'BLOCK_TARGET_NOT_SUPPORTED' });
    // The running volume holds a filesystem with the image's root UUID: the UKI could boot either.
    const rootA = join(dir, 'dev', 'root-a');
    await truncate(rootA, 8 * 1024 * 1024);
    await promisify(execFile)('mkfs.ext4', ['-q', '-F', '-U', DEMO_IDS.rootFsUuid, rootA]);
    try {
      const info = await refusal(request(text));
      expect(info).toMatchObject({ code: 'ENGINE_UPDATE_DUPLICATE_FS_UUID' });
      expect(info.errorMessage).toContain('the boot loader finds / by that UUID');
    } finally {
      await writeFile(rootA, '');
    }
  });

  it('the staged configuration again is finalize only: nothing is written, the one-shot entry is set', async () => {
    const next = installed('os:\n  hostname: next\n');
    await provision(installed(), { state: 'ab-update-staged', stagedText: next });
    const planned = await plan(request(next));
    expect(planned.images).toEqual([]);
    expect(planned.steps.join('\n')).toMatch(/updating volume-b/u);
    expect(planned.steps.join('\n')).toMatch(/LoaderEntryOneShot/u);
    expect(planned.steps.join('\n')).not.toMatch(/^Write /mu);
    await discardPlan(planned);
  });
});
