/**
 * Discoverable Partitions Specification (DPS) type GUIDs and the names Trident accepts for them.
 * Architecture-specific root/usr variants map to the generic kind (`root`, `usr`, ...) for
 * mount-point derivation, as Trident's derived Host Configuration merges them.
 */
export interface PartitionTypeInfo {
  name: string;
  /** Generic kind: esp, xbootldr, swap, home, srv, var, tmp, linux-generic, root, root-verity, usr, ... */
  kind: string;
  /** The mount point the DPS assigns, if any. */
  mountPoint?: string;
}

const GENERIC: Array<[string, string, string | undefined]> = [
  ['c12a7328-f81f-11d2-ba4b-00a0c93ec93b', 'esp', '/boot/efi'],
  ['bc13c2ff-59e6-4262-a352-b275fd6f7172', 'xbootldr', '/boot'],
  ['0657fd6d-a4ab-43c4-84e5-0933c84b4f4f', 'swap', undefined],
  ['933ac7e1-2eb4-4f13-b844-0e14e2aef915', 'home', '/home'],
  ['3b8f8425-20e0-4f3b-907f-1a25a76f98e8', 'srv', '/srv'],
  ['4d21b016-b534-45c2-a9fb-5c16e091fd2d', 'var', '/var'],
  ['7ec6f557-3bc5-4aca-b293-16ef5df639d1', 'tmp', '/var/tmp'],
  ['0fc63daf-8483-4772-8e79-3d69d8477de4', 'linux-generic', undefined],
  ['21686148-6449-6e6f-744e-656564454649', 'bios-boot', undefined],
];

// Per-architecture root, usr, and their verity / verity-signature partitions.
const ARCH: Array<[string, string, string, string, string, string, string]> = [
  // arch, root, usr, root-verity, usr-verity, root-verity-sig, usr-verity-sig
  [
    'x86-64',
    '4f68bce3-e8cd-4db1-96e7-fbcaf984b709',
    '8484680c-9521-48c6-9c11-b0720656f69e',
    '2c7357ed-ebd2-46d9-aec1-23d437ec2bf5',
    '77ff5f63-e7b6-4633-acf4-1565b864c0e6',
    '41092b05-9fc8-4523-994f-2def0408b176',
    'e7bb33fb-06cf-4e81-8273-e543b413e2e2',
  ],
  [
    'arm64',
    'b921b045-1df0-41c3-af44-4c6f280d3fae',
    'b0e01050-ee5f-4390-949a-9101b17104e9',
    'df3300ce-d69f-4c92-978c-9bfb0f38d820',
    '6e11a4e7-fbca-4ded-b9e9-e1a512bb664e',
    '6db69de6-29f4-4758-a7a5-962190f00ce3',
    'c23ce4ff-44bd-4b00-b2d4-b41b3419e02a',
  ],
  [
    'x86',
    '44479540-f297-41b2-9af7-d131d5f0458a',
    '75250d76-8cc6-458e-bd66-bd47cc81a812',
    'd13c5d3b-b5d1-422a-b29f-9454fdc89d76',
    '8f461b0d-14ee-4e81-9aa9-049b6fb97abd',
    '5996fc05-109c-48de-808b-23fa0830b676',
    '974a71c0-de41-43c3-be5d-5c5ccd1ad2c0',
  ],
  [
    'arm',
    '69dad710-2ce4-4e3c-b16c-21a1d49abed3',
    '7d0359a3-02b3-4f0a-865c-654403e70625',
    '7386cdf2-203c-47a9-a498-f2ecce45a2d6',
    'c215d751-7bcd-4649-be90-6627490a4c05',
    '42b0455f-eb11-491d-98d3-56145ba9d037',
    'd7ff812f-37d1-4902-a810-d76ba57b975a',
  ],
];

const BY_GUID = new Map<string, PartitionTypeInfo>();
for (const [guid, name, mountPoint] of GENERIC) {
  BY_GUID.set(guid, mountPoint === undefined ? { name, kind: name } : { name, kind: name, mountPoint });
}
for (const [arch, root, usr, rootVerity, usrVerity, rootSig, usrSig] of ARCH) {
  BY_GUID.set(root, { name: `root-${arch}`, kind: 'root', mountPoint: '/' });
  BY_GUID.set(usr, { name: `usr-${arch}`, kind: 'usr', mountPoint: '/usr' });
  BY_GUID.set(rootVerity, { name: `root-${arch}-verity`, kind: 'root-verity' });
  BY_GUID.set(usrVerity, { name: `usr-${arch}-verity`, kind: 'usr-verity' });
  BY_GUID.set(rootSig, { name: `root-${arch}-verity-sig`, kind: 'root-verity-sig' });
  BY_GUID.set(usrSig, { name: `usr-${arch}-verity-sig`, kind: 'usr-verity-sig' });
}

/** Names Trident's `partType` parser accepts in place of a GUID. */
const DPS_NAMES = new Set<string>([
  ...GENERIC.map(([, name]) => name).filter((name) => name !== 'bios-boot'),
  'root',
  'root-verity',
  'root-verity-sig',
  'usr',
  'usr-verity',
  'usr-verity-sig',
  ...[...BY_GUID.values()].filter((info) => /-(x86-64|arm64)/u.test(info.name)).map((info) => info.name),
]);

const BY_NAME = new Map<string, string>([...BY_GUID].map(([guid, info]) => [info.name, guid]));

export function partitionTypeInfo(typeGuid: string): PartitionTypeInfo | undefined {
  return BY_GUID.get(typeGuid.toLowerCase());
}

/**
 * The type GUID of a DPS name from this table (`esp`, `root-x86-64`, `usr-arm64-verity`, ...), or
 * undefined for a name it does not hold.
 */
export function partitionTypeGuidByName(name: string): string | undefined {
  return BY_NAME.get(name);
}

export function isDpsName(name: string): boolean {
  return DPS_NAMES.has(name);
}

function known(name: string): string {
  const guid = BY_NAME.get(name);
  if (guid === undefined) throw new Error(`partition type table has no '${name}'`);
  return guid;
}

export const ESP_TYPE_GUID = known('esp');
export const LINUX_GENERIC_TYPE_GUID = known('linux-generic');
