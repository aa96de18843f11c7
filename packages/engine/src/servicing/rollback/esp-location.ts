/**
 * Where the installed host's ESP is, from the recorded Host Configuration and Host Status: its
 * partition (type `esp` or the ESP GUID, or the filesystem marked `overrideEspMount`), the path the
 * configuration mounts it at, and the device node.
 */
import { readFile, realpath } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createMountedEsp, type EspDevice, type EspVolume } from '@trident/boot-config';
import { ESP_TYPE_GUID } from '@trident/cosi-format';
import type { HostStatus } from '@trident/datastore';
import type { HostConfiguration } from '@trident/host-config';
import { EngineError } from '../../errors.ts';
import { openHostEsp } from '../update/update-boot.ts';

export interface EspLocation {
  /** The Host Configuration id of the ESP partition. */
  id: string;
  /** Its recorded device path (`partitionPaths`), e.g. `/dev/disk/by-partuuid/…`. */
  device: string | undefined;
  /** Where the host mounts it (`/boot/efi`), when the configuration mounts it. */
  mountPath: string | undefined;
}

const noEsp = (why: string) =>
  new EngineError('SERVICING_ERROR', 'get-esp-device-info', why, { code: 'ENGINE_ROLLBACK_NO_ESP' });

export function findEsp(config: HostConfiguration, status: HostStatus): EspLocation {
  const partitions = config.storage.disks.flatMap((d) => d.partitions);
  const byType = partitions.find((p) => p.type === 'esp' || p.type.toLowerCase() === ESP_TYPE_GUID);
  const marked = config.storage.filesystems.find(
    (fs) => (fs as { overrideEspMount?: string }).overrideEspMount === 'override',
  );
  const id = byType?.id ?? marked?.deviceId;
  if (id === undefined)
    throw noEsp('the recorded Host Configuration has no ESP partition (type esp): no boot entries to switch');
  const fs = config.storage.filesystems.find((f) => f.deviceId === id);
  return { id, device: status.partitionPaths?.[id], mountPath: fs?.mountPoint?.path };
}

/**
 * The ESP as an `EspVolume`: `espDir` when given (tests, a caller that mounted it), else the
 * recorded partition as A/B update opens it (`openHostEsp`: through its mount when the running OS
 * has it mounted, found by device number; else in place with mtools).
 */
export async function openEsp(
  esp: EspLocation,
  options: { espDir?: string | undefined; procDir?: string | undefined },
): Promise<EspVolume> {
  if (options.espDir !== undefined) return createMountedEsp(options.espDir);
  if (esp.device === undefined)
    throw noEsp(`the ESP '${esp.id}' has no device recorded in partitionPaths (the Host Status)`);
  return openHostEsp(esp.device, options.procDir);
}

/** The disk and partition number of the ESP, as efibootmgr wants them (from sysfs). */
export async function espDevice(esp: EspLocation, sysDir = '/sys'): Promise<EspDevice> {
  if (esp.device === undefined) throw noEsp(`the ESP '${esp.id}' has no recorded device path`);
  const node = await realpath(esp.device).catch(() => undefined);
  if (node === undefined) throw noEsp(`the ESP device ${esp.device} does not exist`);
  const block = join(sysDir, 'class/block', basename(node));
  const number = Number((await readFile(join(block, 'partition'), 'utf8').catch(() => '')).trim());
  const parent = await realpath(block).then(
    (p) => basename(dirname(p)),
    () => undefined,
  );
  if (!Number.isInteger(number) || number < 1 || parent === undefined)
    throw noEsp(`${node} (the ESP '${esp.id}') is not a partition of a disk (no ${block}/partition)`);
  return { disk: join('/dev', parent), partitionNumber: number };
}
