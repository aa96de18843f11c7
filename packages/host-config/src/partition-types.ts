/**
 * GPT partition types of the Host Configuration (reference §2): names, their DPS GUIDs and the mount
 * paths each is usually mounted at. A raw UUID stays "unknown" even when it equals a named GUID, as in
 * Trident, so the named-type rules do not apply to it.
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

const GUIDS: Record<PartitionTypeName, string | Record<Arch, string>> = {
  esp: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b',
  root: { x64: '4f68bce3-e8cd-4db1-96e7-fbcaf984b709', arm64: 'b921b045-1df0-41c3-af44-4c6f280d3fae' },
  swap: '0657fd6d-a4ab-43c4-84e5-0933c84b4f4f',
  'root-verity': {
    x64: '2c7357ed-ebd2-46d9-aec1-23d437ec2bf5',
    arm64: 'df3300ce-d69f-4c92-978c-9bfb0f38d820',
  },
  home: '933ac7e1-2eb4-4f13-b844-0e14e2aef915',
  var: '4d21b016-b534-45c2-a9fb-5c16e091fd2d',
  usr: { x64: '8484680c-9521-48c6-9c11-b0720656f69e', arm64: 'b0e01050-ee5f-4390-949a-9101b17104e9' },
  'usr-verity': {
    x64: '77ff5f63-e7b6-4633-acf4-1565b864c0e6',
    arm64: '6e11a4e7-fbca-4ded-b9e9-e1a512bb664e',
  },
  tmp: '7ec6f557-3bc5-4aca-b293-16ef5df639d1',
  'linux-generic': '0fc63daf-8483-4772-8e79-3d69d8477de4',
  srv: '3b8f8425-20e0-4f3b-907f-1a25a76f98e8',
  xbootldr: 'bc13c2ff-59e6-4262-a352-b275fd6f7172',
};

/** The GPT type GUID (lowercase) for a partition type value; raw UUIDs map to themselves. */
export function partitionTypeGuid(type: string, arch: Arch = 'x64'): string {
  const entry = (GUIDS as Record<string, string | Record<Arch, string> | undefined>)[type];
  if (entry === undefined) return type.toLowerCase();
  return typeof entry === 'string' ? entry : entry[arch];
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
