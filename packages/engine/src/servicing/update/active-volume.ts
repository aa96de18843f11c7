/**
 * Which A/B volume the host runs, by block device (upstream `engine/rollback.rs`
 * `get_ab_active_volume` checks; reference servicing.md §7 "Finding the inactive volume"): the
 * device mounted at `/` (or the data device under a verity root) must be the root member of volume
 * A or of volume B, and it must be the one the Host Status records as active. The update writes
 * the other one.
 */
import type { AbVolume, HostStatus } from '@trident/datastore';
import type { HostConfiguration } from '@trident/host-config';
import { EngineError } from '../../errors.ts';
import { currentRootDevice, expectedRoot, isExpectedRoot, type SystemPaths } from '../commit/booted-root.ts';

export interface ActiveVolume {
  /** The volume running now. */
  active: AbVolume;
  /** The volume the update writes. */
  target: AbVolume;
  /** The canonical device of `/`. */
  rootDevice: string;
}

export const otherVolume = (volume: AbVolume): AbVolume => (volume === 'volume-a' ? 'volume-b' : 'volume-a');

/** Resolves an A/B pair id to its member on `volume`; any other id is itself. */
export function memberOn(config: HostConfiguration, id: string, volume: AbVolume): string {
  const pair = config.storage.abUpdate?.volumePairs.find((p) => p.id === id);
  if (pair === undefined) return id;
  return volume === 'volume-a' ? pair.volumeAId : pair.volumeBId;
}

export async function findActiveVolume(
  config: HostConfiguration,
  status: HostStatus,
  paths: SystemPaths = {},
): Promise<ActiveVolume> {
  const a = expectedRoot(config, status, 'volume-a');
  const b = expectedRoot(config, status, 'volume-b');
  if (a.deviceId === b.deviceId)
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-host-configuration-dynamic',
      `the root filesystem is on '${a.deviceId}', which is not an A/B volume pair (storage.abUpdate.volumePairs): there is no inactive volume to update`,
      { code: 'ENGINE_UPDATE_ROOT_NOT_AB' },
    );
  const rootDevice = await currentRootDevice(paths);
  const onA = await isExpectedRoot(rootDevice, a, paths);
  const onB = !onA && (await isExpectedRoot(rootDevice, b, paths));
  if (!onA && !onB)
    throw new EngineError(
      'SERVICING_ERROR',
      'root-device-path-ab-active-volume-mismatch',
      `/ is ${rootDevice}, which is neither volume A's root (${a.path}, '${a.deviceId}') nor volume B's (${b.path}, '${b.deviceId}')`,
      { code: 'ENGINE_UPDATE_ROOT_NOT_A_VOLUME' },
    );
  const active: AbVolume = onA ? 'volume-a' : 'volume-b';
  // A host never updated has no abActiveVolume until its first commit; upstream reads None as A.
  const recorded = status.abActiveVolume ?? 'volume-a';
  if (active !== recorded)
    throw new EngineError(
      'SERVICING_ERROR',
      'validate-ab-active-volume',
      `the host runs ${active} (/ is ${rootDevice}) but the Host Status records ${recorded} as active: commit the last servicing (trident commit) or find out why the other volume booted`,
      { code: 'ENGINE_UPDATE_ACTIVE_VOLUME_MISMATCH' },
    );
  return { active, target: otherVolume(active), rootDevice };
}
