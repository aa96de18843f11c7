/** zod schemas for `storage` (reference §1.2). Output types carry the materialised defaults. */
import * as z from 'zod/mini';
import { PARTITION_TYPE_NAMES } from '../partition-types.ts';
import {
  bool,
  coded,
  defList,
  isUuid,
  list,
  oneOf,
  opt,
  partitionSize,
  preprocess,
  showValue,
  str,
  struct,
  transformed,
  uint,
  uuid,
} from '../scalars.ts';
import { PlainScalar } from '../yaml-source.ts';

export const partitionType = () =>
  preprocess(
    (v) => (v instanceof PlainScalar ? v.text : v),
    z.string().check(
      z.refine((v) => (PARTITION_TYPE_NAMES as readonly string[]).includes(v) || isUuid(v), {
        error: (iss) =>
          coded(
            'HC_UNKNOWN_VARIANT',
            `unknown partition type ${showValue(iss.input)}, expected one of ${PARTITION_TYPE_NAMES.map((t) => `\`${t}\``).join(', ')} or a GPT type UUID`,
          ),
      }),
    ),
  );

export const PartitionSchema = struct({
  id: str(),
  size: partitionSize(),
  type: z._default(partitionType(), 'linux-generic'),
  uuid: opt(uuid()),
  label: opt(str()),
});

export const AdoptedPartitionSchema = struct({
  id: str(),
  matchLabel: opt(str()),
  matchUuid: opt(uuid()),
});

export const DiskSchema = struct({
  id: str(),
  device: str(),
  partitionTableType: oneOf(['gpt']),
  partitions: list(PartitionSchema),
  adoptedPartitions: defList(AdoptedPartitionSchema),
});

export const RAID_LEVELS = ['raid0', 'raid1', 'raid5', 'raid6', 'raid10'] as const;
export const SoftwareRaidArraySchema = struct({
  id: str(),
  name: str(),
  level: oneOf(RAID_LEVELS),
  devices: list(str()),
});

export const RaidSchema = struct({
  software: defList(SoftwareRaidArraySchema),
  syncTimeout: opt(uint(Number.MAX_SAFE_INTEGER)),
});

/** PCR names by index (reference §1.2 Pcr values). */
export const PCR_NAMES = [
  'platform-code',
  'platform-config',
  'external-code',
  'external-config',
  'boot-loader-code',
  'boot-loader-config',
  'host-platform',
  'secure-boot-policy',
  'pcr8',
  'kernel-initrd',
  'ima',
  'kernel-boot',
  'kernel-config',
  'sysexts',
  'shim-policy',
  'system-identity',
  'debug',
  'pcr17',
  'pcr18',
  'pcr19',
  'pcr20',
  'pcr21',
  'pcr22',
  'application-support',
] as const;

const pcrMessage = (iss: { input?: unknown }): string =>
  coded(
    'HC_INVALID_PCR',
    `invalid PCR ${showValue(iss.input)}: write an integer 0-23 or a PCR name such as \`boot-loader-code\` (4), \`secure-boot-policy\` (7) or \`kernel-boot\` (11)`,
  );

/** A PCR as an integer 0-23 or its name; the output is the PCR index. */
export const pcr = () =>
  preprocess(
    (v) => (v instanceof PlainScalar ? v.value : v),
    transformed(
      z.union(
        [
          z
            .number({ error: pcrMessage })
            .check(
              z.int({ error: pcrMessage }),
              z.minimum(0, { error: pcrMessage }),
              z.maximum(23, { error: pcrMessage }),
            ),
          z.enum(PCR_NAMES, { error: pcrMessage }),
        ],
        { error: pcrMessage },
      ),
      (v) => (typeof v === 'number' ? v : PCR_NAMES.indexOf(v)),
    ),
  );

export const EncryptedVolumeSchema = struct({ id: str(), deviceName: str(), deviceId: str() });

export const EncryptionSchema = struct({
  volumes: list(EncryptedVolumeSchema),
  pcrs: list(pcr()),
  recoveryKeyUrl: opt(str()),
  clearTpmOnInstall: opt(bool()),
});

export const AbVolumePairSchema = struct({ id: str(), volumeAId: str(), volumeBId: str() });
export const AbUpdateSchema = struct({ volumePairs: list(AbVolumePairSchema) });

export const VerityDeviceSchema = struct({
  id: str(),
  name: str(),
  dataDeviceId: str(),
  hashDeviceId: str(),
  corruptionOption: z._default(oneOf(['io-error', 'ignore', 'panic', 'restart']), 'io-error'),
});

export const FILESYSTEM_TYPES = [
  'ext4',
  'xfs',
  'vfat',
  'ntfs',
  'tmpfs',
  'auto',
  'overlay',
  'iso9660',
] as const;
export const NEW_FILESYSTEM_TYPES = ['ext4', 'xfs', 'vfat', 'ntfs', 'tmpfs', 'overlay'] as const;
export const ADOPTED_FILESYSTEM_TYPES = ['ext4', 'xfs', 'vfat', 'ntfs', 'auto', 'iso9660'] as const;
export type FileSystemType = (typeof FILESYSTEM_TYPES)[number];

/** For each source that creates or adopts a filesystem: the types it may name and its default. */
const TYPES_BY_SOURCE = {
  new: { allowed: NEW_FILESYSTEM_TYPES, fallback: 'ext4', phrase: 'a new filesystem' },
  adopted: { allowed: ADOPTED_FILESYSTEM_TYPES, fallback: 'auto', phrase: 'an adopted filesystem' },
} as const;

function typesFor(source: string) {
  return source === 'new' || source === 'adopted' ? TYPES_BY_SOURCE[source] : undefined;
}

const MountPointLongSchema = struct({ path: str(), options: z._default(str(), 'defaults') });

/** Short form `/var` or long form `{path, options}`; output is always the long form. */
export const mountPoint = () =>
  transformed(z.union([str(), MountPointLongSchema]), (v) =>
    typeof v === 'string' ? { path: v, options: 'defaults' } : v,
  );

const FileSystemInputSchema = struct({
  deviceId: opt(str()),
  source: opt(oneOf(['image', 'new', 'adopted'])),
  type: opt(oneOf(FILESYSTEM_TYPES)),
  mountPoint: opt(mountPoint()),
  overrideEspMount: z._default(oneOf(['use-default', 'override', 'block']), 'use-default'),
});

type FileSystemInput = z.output<typeof FileSystemInputSchema>;

/** How `source`, `type` and `overrideEspMount` must agree; each mismatch is its own coded issue. */
function checkFileSystem(fs: FileSystemInput, ctx: z.core.$RefinementCtx<FileSystemInput>): void {
  const source = fs.source ?? 'image';
  if (source === 'image' && fs.type !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['type'],
      input: fs.type,
      message: coded(
        'HC_FS_TYPE_WITH_IMAGE',
        `a filesystem sourced from the image cannot set \`type\` (got \`${fs.type}\`); the type comes from the image. Remove \`type\`, or set \`source: new\` to create a new filesystem`,
      ),
    });
  }
  const rule = typesFor(source);
  if (rule !== undefined && fs.type !== undefined && !(rule.allowed as readonly string[]).includes(fs.type)) {
    ctx.addIssue({
      code: 'custom',
      path: ['type'],
      input: fs.type,
      message: coded(
        'HC_FS_TYPE_INVALID_FOR_SOURCE',
        `invalid ${source} filesystem type \`${fs.type}\`: ${rule.phrase} can be ${rule.allowed.map((t) => `\`${t}\``).join(', ')} (default \`${rule.fallback}\`)`,
      ),
    });
  }
  if (fs.overrideEspMount === 'override' && fs.mountPoint === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['overrideEspMount'],
      input: fs.overrideEspMount,
      message: coded(
        'HC_ESP_OVERRIDE_WITHOUT_MOUNT',
        '`overrideEspMount: override` marks this filesystem as the ESP, which needs a mount point: add `mountPoint` (e.g. `/boot/efi`) or remove `overrideEspMount`',
      ),
    });
  }
}

/** The output form: `source` and the default `type` materialised. */
function completeFileSystem(fs: FileSystemInput) {
  const source = fs.source ?? 'image';
  const rule = typesFor(source);
  const type = rule === undefined ? undefined : (fs.type ?? rule.fallback);
  return {
    ...(fs.deviceId === undefined ? {} : { deviceId: fs.deviceId }),
    source,
    ...(type === undefined ? {} : { type }),
    ...(fs.mountPoint === undefined ? {} : { mountPoint: fs.mountPoint }),
    overrideEspMount: fs.overrideEspMount,
  };
}

export const FileSystemSchema = transformed(
  FileSystemInputSchema.check(z.superRefine(checkFileSystem)),
  completeFileSystem,
);

/** Swap: a device ID or `{deviceId}`; output is always `{deviceId}`. */
export const SwapSchema = transformed(z.union([str(), struct({ deviceId: str() })]), (v) =>
  typeof v === 'string' ? { deviceId: v } : v,
);

export const StorageSchema = struct({
  disks: defList(DiskSchema),
  encryption: opt(EncryptionSchema),
  raid: z.prefault(RaidSchema, {}),
  abUpdate: opt(AbUpdateSchema),
  filesystems: defList(FileSystemSchema),
  verity: defList(VerityDeviceSchema),
  swap: defList(SwapSchema),
});
