import { partitionTypeGuidByName } from '@trident/cosi-format';

/**
 * GPT partition types of the Host Configuration (reference §2): the names it accepts, their DPS
 * GUIDs (from cosi-format's table) and the mount paths each is usually mounted at. A raw UUID stays
 * "unknown" even when it equals a named GUID, as in Trident, so the named-type rules do not apply to
 * it.
 */
export const PARTITION_TYPE_NAMES = [
  'esp',
  'root',
  'swap',
  'root-verity',
  'home',
  'var',
  'usr',
  'usr-verity',
  'tmp',
  'linux-generic',
  'srv',
  'xbootldr',
] as const;
export type PartitionTypeName = (typeof PARTITION_TYPE_NAMES)[number];

/** Azure Container Linux usr type: accepted as verity data, paired with `usr-verity`. */
export const ACL_USR_TYPE = '5dfbf5f4-2848-4bac-aa5e-0d9a20b745a6';

export type Arch = 'x64' | 'arm64';

/** Types whose GUID depends on the architecture (DPS names them `root-x86-64`, `usr-arm64-verity`, ...). */
const PER_ARCH = /^(root|usr)(-verity)?$/u;
const DPS_ARCH: Record<Arch, string> = { x64: 'x86-64', arm64: 'arm64' };

/**
 * The GPT type GUID (lowercase) for a partition type value; raw UUIDs map to themselves. The GUIDs
 * come from cosi-format's DPS table, the one table of partition types.
 */
export function partitionTypeGuid(type: string, arch: Arch = 'x64'): string {
  if (!isNamedPartitionType(type)) return type.toLowerCase();
  const dpsName = type.replace(
    PER_ARCH,
    (_all, base: string, verity = '') => `${base}-${DPS_ARCH[arch]}${verity}`,
  );
  const guid = partitionTypeGuidByName(dpsName);
  if (guid === undefined) throw new Error(`the DPS table has no partition type '${dpsName}'`);
  return guid;
}

export function isNamedPartitionType(type: string): type is PartitionTypeName {
  return (PARTITION_TYPE_NAMES as readonly string[]).includes(type);
}

/** Mount paths a type is usually mounted at; `undefined` means any path, `[]` means none. */
export const TYPICAL_MOUNTS: Partial<Record<PartitionTypeName, readonly string[]>> = {
  esp: ['/boot', '/efi', '/boot/efi'],
  root: ['/'],
  swap: [],
  'root-verity': [],
  home: ['/home'],
  var: ['/var'],
  usr: ['/usr'],
  'usr-verity': [],
  tmp: ['/var/tmp'],
  srv: ['/srv'],
  xbootldr: ['/boot'],
};
