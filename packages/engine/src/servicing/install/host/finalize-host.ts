/**
 * The finalize half of a clean install (reference servicing.md §1 E), shared by an install that
 * stages and finalizes in one run and a finalize-only run over a staged host: the Host Status in
 * the new root's datastore, the UEFI boot entry; and the stage-only record (§1 C.9, D) that a
 * later finalize reads from the servicing OS's datastore.
 */
import { access } from 'node:fs/promises';
import { createBootEntry, espDirectoryName } from '@trident/boot-config';
import { ESP_TYPE_GUID } from '@trident/cosi-format';
import { DEFAULT_DATASTORE_PATH, datastorePathIn, openDatastore } from '@trident/datastore';
import type { HostConfiguration } from '@trident/host-config';
import type { PlannedTarget } from '../../../types.ts';
import { step } from '../../host/configure-os.ts';
import type { RunSession } from '../../phases/run-session.ts';
import type { DiskLayout } from '../layout.ts';
import type { AttachedDisk } from './attach-disks.ts';

const EFIVARS = '/sys/firmware/efi/efivars';
/** Clean install is volume A of install index 0 (upstream's first free `EFI/AZL…` directory). */
export const INSTALL_INDEX = 0;

/** What a staged clean install is: the Host Status fields `clean-install-staged` records. */
export interface StagedInstall {
  spec: Record<string, unknown>;
  partitionPaths: Record<string, string>;
  diskUuids: Record<string, string>;
  installIndex: number;
}

export function stagedInstall(layouts: readonly DiskLayout[], spec: Record<string, unknown>): StagedInstall {
  const partitionPaths: Record<string, string> = {};
  const diskUuids: Record<string, string> = {};
  for (const layout of layouts) {
    diskUuids[layout.diskId] = layout.diskUuid;
    for (const p of layout.partitions) partitionPaths[p.id] = `/dev/disk/by-partuuid/${p.uuid}`;
  }
  return { spec, partitionPaths, diskUuids, installIndex: INSTALL_INDEX };
}

/** The installed OS's datastore: the install's rows, ending `clean-install-finalized`. */
export async function recordInNewRoot(
  config: HostConfiguration,
  newRootPath: string,
  staged: StagedInstall,
  session: RunSession,
): Promise<void> {
  const configured = config.trident.datastorePath || DEFAULT_DATASTORE_PATH;
  const path = datastorePathIn(newRootPath, configured);
  await step(session, 'datastore', `Recording the Host Status in ${configured} of the new root`, async () => {
    // As upstream: the install is staged in the installer's (temporary, management-OS) status,
    // which is then persisted into the new root as its first row, no longer marked as the
    // management OS's; only the finalized row follows it there.
    const installer = openDatastore(':memory:', { create: true });
    try {
      installer.apply({ type: 'clean-install-started' });
      installer.apply({ type: 'clean-install-staged', ...staged });
      const installed = installer.persistTo(path);
      try {
        installed.apply({ type: 'clean-install-finalized' });
      } finally {
        installed.close();
      }
    } finally {
      installer.close();
    }
  });
}

/** Stage-only: the servicing OS's datastore says what is staged, for the finalize that follows. */
export async function recordStaged(
  stagingDatastore: string,
  staged: StagedInstall,
  session: RunSession,
): Promise<void> {
  await step(session, 'datastore', `Recording the staged clean install in ${stagingDatastore}`, async () => {
    const datastore = openDatastore(stagingDatastore, { create: true });
    try {
      datastore.apply({ type: 'clean-install-started' });
      datastore.apply({ type: 'clean-install-staged', ...staged });
    } finally {
      datastore.close();
    }
  });
}

/** Finalize-only, last: the servicing OS's datastore records the finalized install. */
export async function recordFinalized(stagingDatastore: string, session: RunSession): Promise<void> {
  await step(
    session,
    'datastore',
    `Recording the finalized clean install in ${stagingDatastore}`,
    async () => {
      const datastore = openDatastore(stagingDatastore);
      try {
        datastore.apply({ type: 'clean-install-finalized' });
      } finally {
        datastore.close();
      }
    },
  );
}

/** Where the ESP was laid out: its disk (index into the targets) and partition number. */
export function findEsp(
  layouts: readonly DiskLayout[],
): { diskIndex: number; partitionNumber: number } | undefined {
  for (const [diskIndex, layout] of layouts.entries()) {
    // An adopted partition of the ESP type is kept as it is, never the ESP this install writes.
    const esp = layout.partitions.find((p) => !p.adopted && p.typeGuid.toLowerCase() === ESP_TYPE_GUID);
    if (esp) return { diskIndex, partitionNumber: esp.number };
  }
  return undefined;
}

/**
 * Finalize on real hardware: a UEFI boot entry for the ESP directory, first in BootOrder and
 * BootNext. Disk-image files have no firmware of their own: they boot from the removable-media
 * path (EFI/BOOT) the image carries.
 */
export async function registerBootEntry(
  targets: readonly PlannedTarget[],
  layouts: readonly DiskLayout[],
  disks: readonly AttachedDisk[],
  session: RunSession,
): Promise<void> {
  const esp = findEsp(layouts);
  if (esp === undefined || targets[esp.diskIndex]!.kind !== 'disk') return;
  if (
    !(await access(EFIVARS).then(
      () => true,
      () => false,
    ))
  ) {
    session.log('warn', `${EFIVARS} is not there (not booted with UEFI): no UEFI boot entry created`);
    return;
  }
  const label = espDirectoryName(INSTALL_INDEX, 'a');
  await step(session, 'set-boot-entries', `Creating the UEFI boot entry ${label}`, () =>
    createBootEntry({
      label,
      esp: [{ disk: disks[esp.diskIndex]!.device, partitionNumber: esp.partitionNumber }],
      loader: '/EFI/BOOT/BOOTX64.EFI',
      bootOrder: 'first',
      signal: session.signal,
    }),
  );
}
