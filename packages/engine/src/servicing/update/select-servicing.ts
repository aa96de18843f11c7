/**
 * What an update has to do, decided from the new Host Configuration against the one the host was
 * provisioned with (upstream `engine/mod.rs` `select_servicing_type` and the subsystems' votes;
 * reference servicing.md §7 table). Pure: both documents parsed by the same parser, so defaults
 * compare equal and only what the user changed counts.
 */
import type { HostConfiguration } from '@trident/host-config';
import { EngineError } from '../../errors.ts';

export type UpdateServicingType = 'ab-update' | 'runtime-update' | 'none';

export interface ServicingSelection {
  type: UpdateServicingType;
  /** Why, one line per vote (`image sha384 changed`, `os.hostname changed`). */
  reasons: string[];
}

/** Equality of parsed values, independent of key order. */
export function sameValue(a: unknown, b: unknown): boolean {
  return stable(a) === stable(b);
}

function stable(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([x], [y]) => x.localeCompare(y)))
      : inner,
  );
}

/** The image section's vote: added, hash changed (`ignored` included), or `ignored` with a new URL. */
function imageChange(next: HostConfiguration, old: HostConfiguration): string | undefined {
  if (next.image === undefined) {
    if (old.image !== undefined)
      throw new EngineError(
        'INVALID_INPUT_ERROR',
        'invalid-host-configuration-dynamic',
        'the new Host Configuration has no image, but the host was provisioned from one: an update cannot remove the OS image (upstream DeployPartitionImagesAfterOsImage)',
        { code: 'ENGINE_UPDATE_IMAGE_REMOVED' },
      );
    return undefined;
  }
  if (old.image === undefined) return 'image added';
  if (next.image.sha384 !== old.image.sha384) return 'image sha384 changed';
  if (next.image.sha384 === 'ignored' && next.image.url !== old.image.url)
    return "image url changed (sha384 is 'ignored')";
  // Same hash at a new URL is the same OS: no update.
  return undefined;
}

type Extension = HostConfiguration['os']['sysexts'][number];

/**
 * Extension lists compare by URL and hash, and by path only where the new entry declares one: the
 * recorded spec has every image's final path filled in after it was placed, which the user's file
 * usually leaves out (upstream counts that as a change: reference §7, finalize-only quirk).
 */
function sameExtensions(next: readonly Extension[], old: readonly Extension[]): boolean {
  return (
    next.length === old.length &&
    next.every(
      (entry, i) =>
        entry.url === old[i]!.url &&
        entry.sha384.toLowerCase() === old[i]!.sha384.toLowerCase() &&
        (entry.path === undefined || entry.path === old[i]!.path),
    )
  );
}

/**
 * Whether `next` is the recorded configuration `old`, reading a sysext/confext entry without a
 * `path` as the same entry with the path the servicing recorded for it (same URL and hash).
 */
export function sameConfiguration(next: HostConfiguration, old: HostConfiguration): boolean {
  const fill = (list: readonly Extension[], recorded: readonly Extension[]): Extension[] =>
    list.map((entry, i) => {
      const had = recorded[i];
      return entry.path === undefined &&
        had !== undefined &&
        had.url === entry.url &&
        had.sha384.toLowerCase() === entry.sha384.toLowerCase()
        ? { ...entry, path: had.path }
        : entry;
    });
  const filled = {
    ...next,
    os: {
      ...next.os,
      sysexts: fill(next.os.sysexts, old.os.sysexts),
      confexts: fill(next.os.confexts, old.os.confexts),
    },
  };
  return sameValue(filled, old);
}

/** OS settings applied only by writing a new root (upstream's os-config vote for A/B). */
const AB_OS_FIELDS = ['users', 'hostname', 'modules', 'services', 'kernelCommandLine', 'selinux'] as const;
/** Settings a runtime update applies to the running OS. */
const RUNTIME_OS_FIELDS = ['sysexts', 'confexts', 'netplan', 'additionalFiles', 'uefiFallback'] as const;

export function selectServicingType(next: HostConfiguration, old: HostConfiguration): ServicingSelection {
  const ab: string[] = [];
  const image = imageChange(next, old);
  if (image !== undefined) ab.push(image);
  if (next.internalParams.forceAbUpdate === true) ab.push('internalParams.forceAbUpdate');
  for (const field of AB_OS_FIELDS)
    if (!sameValue(next.os[field], old.os[field])) ab.push(`os.${field} changed`);
  // Upstream's hooks subsystem votes A/B whenever the new configuration has scripts at all.
  const scripts = (['preServicing', 'postProvision', 'postConfigure'] as const).filter(
    (hook) => next.scripts[hook].length > 0,
  );
  if (scripts.length > 0) ab.push(`scripts configured (${scripts.map((s) => `scripts.${s}`).join(', ')})`);
  if (ab.length > 0) return { type: 'ab-update', reasons: ab };
  const runtime = RUNTIME_OS_FIELDS.filter((field) =>
    field === 'sysexts' || field === 'confexts'
      ? !sameExtensions(next.os[field], old.os[field])
      : !sameValue(next.os[field], old.os[field]),
  ).map((field) => `os.${field} changed`);
  if (runtime.length > 0) return { type: 'runtime-update', reasons: runtime };
  return { type: 'none', reasons: [] };
}

/**
 * Storage an update cannot change (upstream: `storage-configuration-changed` unless
 * `allowHostConfigStorageChange`): the disks and their partitions, RAID, encryption, the A/B pairs
 * and where the datastore lives. Returns the changed sections, empty when none.
 */
export function changedStorage(next: HostConfiguration, old: HostConfiguration): string[] {
  const changed: string[] = [];
  for (const field of ['disks', 'raid', 'encryption', 'abUpdate'] as const)
    if (!sameValue(next.storage[field], old.storage[field])) changed.push(`storage.${field}`);
  if (next.trident.datastorePath !== old.trident.datastorePath) changed.push('trident.datastorePath');
  return changed;
}

export function checkStorageUnchanged(next: HostConfiguration, old: HostConfiguration): void {
  if (next.internalParams.allowHostConfigStorageChange === true) return;
  const changed = changedStorage(next, old);
  if (changed.length > 0)
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'storage-configuration-changed',
      `an update cannot change ${changed.join(', ')}: the disks were laid out at install and are not repartitioned (a clean install can change them)`,
      { code: 'ENGINE_UPDATE_STORAGE_CHANGED' },
    );
}
