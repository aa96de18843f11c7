/**
 * The catalogue of every stable code this package reports. Callers (CLI, engine, editors) match on
 * the code, never on message text. The README table is checked against this list by a test.
 */
export type Severity = 'error' | 'warning' | 'info';

export interface CodeInfo {
  readonly severity: Severity;
  /** What triggers the code, in one sentence (rendered in the README). */
  readonly trigger: string;
}

const code = (severity: Severity, trigger: string): CodeInfo => ({ severity, trigger });

export const CODES = {
  // --- YAML text ---
  HC_YAML_SYNTAX: code(
    'error',
    'The text is not well-formed YAML (bad indentation, unclosed quote, tab indentation, too many aliases).',
  ),
  HC_YAML_DUPLICATE_KEY: code('error', 'A mapping repeats a key.'),
  HC_YAML_TOO_LARGE: code(
    'error',
    'The document is larger than 4 MiB, has more than 20,000 YAML nodes, or its aliases expand to more than 50,000.',
  ),
  HC_YAML_TOO_DEEP: code('error', 'Lists and maps are nested more than 64 levels deep.'),
  HC_FINDINGS_TRUNCATED: code(
    'error',
    'More than 1,000 findings of one severity: the rest are counted in this one (a warning when only warnings were left out).',
  ),
  HC_YAML_MULTIPLE_DOCUMENTS: code('error', 'The file holds more than one YAML document (`---`).'),
  HC_YAML_COMPLEX_KEY: code('error', 'A mapping key is not a plain string (a list, a map or null).'),
  HC_NOT_A_MAPPING: code(
    'error',
    'The document (or a section) is a list or a scalar where a mapping is required.',
  ),
  HC_OLD_STYLE_WRAPPER: code('error', 'The document is wrapped in a top-level `hostConfiguration:` key.'),
  HC_ALLOWED_OPERATIONS: code(
    'error',
    '`allowedOperations` appears in the document; it is a command-line option.',
  ),
  // --- schema ---
  HC_UNKNOWN_FIELD: code(
    'error',
    'A key that the section does not define (every object rejects unknown keys).',
  ),
  HC_DEPRECATED_FIELD: code(
    'error',
    'A key or value from the older API (`osImage`, `verityFilesystems`, `os.network`, source maps, `type: swap`); `trident config migrate` rewrites it.',
  ),
  HC_MISSING_FIELD: code('error', 'A required key is absent.'),
  HC_INVALID_TYPE: code(
    'error',
    'A value has the wrong shape: a list where a map is expected, `null` for a list, `yes` for a boolean, a float for an integer.',
  ),
  HC_UNKNOWN_VARIANT: code(
    'error',
    'A string is not one of the allowed words (partition type, RAID level, source, filesystem type, ...).',
  ),
  HC_OUT_OF_RANGE: code(
    'error',
    'A number is outside its allowed range (e.g. `uid`, `syncTimeout`, `timeoutSeconds`).',
  ),
  HC_INVALID_SIZE: code(
    'error',
    'A size is not `grow`, a non-negative integer or digits with an uppercase K/M/G/T unit.',
  ),
  HC_INVALID_HASH: code('error', 'A `sha384` is neither `ignored` nor 96 hexadecimal characters.'),
  HC_INVALID_URL: code('error', 'A URL is not absolute (no scheme) or cannot be parsed.'),
  HC_INVALID_UUID: code('error', 'A UUID field is not in 8-4-4-4-12 hexadecimal form.'),
  HC_INVALID_PCR: code('error', 'A PCR is neither an integer 0-23 nor one of the PCR names.'),
  HC_FS_TYPE_WITH_IMAGE: code(
    'error',
    'A filesystem sourced from the image (the default source) sets `type`; the type comes from the image.',
  ),
  HC_FS_TYPE_INVALID_FOR_SOURCE: code(
    'error',
    'The filesystem `type` is not allowed for its `source` (e.g. `auto` with `new`, `tmpfs` with `adopted`).',
  ),
  HC_ESP_OVERRIDE_WITHOUT_MOUNT: code(
    'error',
    '`overrideEspMount: override` on a filesystem without a mount point.',
  ),
  // --- image ---
  HC_IMAGE_HASH_IGNORED: code('warning', '`image.sha384: ignored`: the image metadata is not pinned.'),
  HC_IMAGE_URL_SCHEME: code(
    'warning',
    '`image.url` uses a scheme other than file, http, https or oci (fails when the image is loaded).',
  ),
  HC_IMAGE_MISSING: code('error', 'No `image` section while the caller requires one (install/update).'),
  // --- storage graph ---
  HC_DUPLICATE_ID: code('error', 'Two block devices (of any kind) share an `id`.'),
  HC_DISK_PATH_NOT_ABSOLUTE: code('error', 'A disk `device` is not an absolute path.'),
  HC_PARTITION_SIZE_NOT_ALIGNED: code(
    'error',
    'A fixed partition size is zero or not a multiple of 4096 bytes.',
  ),
  HC_TOO_MANY_PARTITIONS: code(
    'error',
    'A disk has more partitions (adopted ones included) than its 128-entry GPT can hold.',
  ),
  HC_ADOPTED_MATCH_CONFLICT: code('error', 'An adopted partition sets both `matchLabel` and `matchUuid`.'),
  HC_ADOPTED_MATCH_MISSING: code('error', 'An adopted partition sets neither `matchLabel` nor `matchUuid`.'),
  HC_DUPLICATE_FIELD_VALUE: code(
    'error',
    'Two devices of one kind share a value that must be unique (disk `device`, partition `uuid`, RAID `name`, `deviceName`, verity `name`, match keys).',
  ),
  HC_FS_DEVICE_REQUIRED: code('error', 'A filesystem that needs a block device has no `deviceId`.'),
  HC_FS_DEVICE_FORBIDDEN: code('error', 'A `tmpfs` or `overlay` filesystem sets `deviceId`.'),
  HC_FS_MOUNT_REQUIRED: code('error', 'A `tmpfs` or `overlay` filesystem has no mount point.'),
  HC_ESP_WITHOUT_MOUNT: code('error', 'The filesystem marked as the ESP has no mount point.'),
  HC_MOUNT_NOT_ABSOLUTE: code('error', 'A mount point path is not absolute.'),
  HC_DUPLICATE_MOUNT_POINT: code('error', 'Two filesystems mount at the same path (compared by components).'),
  HC_MULTIPLE_ESP: code('error', 'More than one filesystem is the ESP.'),
  HC_DUPLICATE_REFERENCE: code('error', 'A referrer lists the same block device twice.'),
  HC_REFERENCE_COUNT: code(
    'error',
    'A referrer has the wrong number of targets (RAID >= 2, A/B = 2, verity = 2, encryption = 1, ...).',
  ),
  HC_UNKNOWN_REFERENCE: code('error', 'A referrer names a block device id that does not exist.'),
  HC_INVALID_REFERENCE_KIND: code(
    'error',
    'A referrer points at a device kind it cannot use (e.g. a filesystem on a disk, RAID on RAID).',
  ),
  HC_SHARED_DEVICE: code('error', 'Two referrers use the same block device.'),
  HC_MIXED_REFERENCE_KINDS: code(
    'error',
    'A RAID array, A/B pair, encrypted volume, verity device or swap mixes device kinds.',
  ),
  HC_PARTITION_SIZE_NOT_FIXED: code(
    'error',
    'A RAID array or A/B pair is built (transitively) on a `grow` partition.',
  ),
  HC_PARTITION_SIZE_MISMATCH: code(
    'error',
    'A RAID array or A/B pair is built on partitions of different sizes.',
  ),
  HC_MIXED_PARTITION_TYPES: code('error', 'A referrer is built on partitions of different types.'),
  HC_INVALID_PARTITION_TYPE: code(
    'error',
    'A partition type is not allowed for its use (ESP needs `esp`, swap needs `swap`, verity data/hash types, encryption exclusions).',
  ),
  HC_VERITY_HASH_TYPE_MISMATCH: code(
    'error',
    'The verity hash partition type does not match the data partition type (`root` needs `root-verity`, `usr` needs `usr-verity`).',
  ),
  HC_INVALID_RAID_LEVEL: code('error', 'The ESP sits on a RAID array whose level is not `raid1`.'),
  HC_MOUNT_TYPE_MISMATCH: code(
    'warning',
    'A filesystem is mounted at a path unusual for its partition type (e.g. a `home` partition at `/data`).',
  ),
  // --- post-graph storage and configuration checks ---
  HC_RECOVERY_KEY_SCHEME: code('error', '`encryption.recoveryKeyUrl` is not a `file://` URL.'),
  HC_UNSUPPORTED_PCR: code('error', '`encryption.pcrs` lists a PCR other than 4, 7 or 11.'),
  HC_ESP_NOT_FOUND: code('error', 'Storage is configured but no filesystem is the ESP.'),
  HC_MOUNT_NOT_FROM_IMAGE: code(
    'error',
    'The ESP, `/` or `/boot` (with root verity) is a `new` filesystem; it must come from the image or be adopted.',
  ),
  HC_EXPECTED_MOUNT_NOT_FOUND: code(
    'error',
    'A required mount point is missing: `/`, a mount covering `/var/tmp`, `/boot` or `/var/lib/trident-overlay` with root verity.',
  ),
  HC_VAR_TMP_READ_ONLY: code('error', 'The mount covering `/var/tmp` is mounted `ro`.'),
  HC_UNSUPPORTED_VERITY_DEVICES: code(
    'error',
    'More than one verity device, a verity device without exactly one filesystem, or verity on a path other than `/` or `/usr`.',
  ),
  HC_VERITY_MOUNT_REQUIRED: code('error', 'The filesystem on a verity device has no mount point.'),
  HC_VERITY_READ_WRITE: code('error', 'The verity filesystem is not mounted with `ro`.'),
  HC_VERITY_NAME: code('error', 'The verity device `name` is not `root` (for `/`) or `usr` (for `/usr`).'),
  HC_OVERLAY_NO_DEVICE: code(
    'error',
    'With root verity, `/var/lib/trident-overlay` is on a filesystem without a block device.',
  ),
  HC_OVERLAY_NOT_AB: code(
    'error',
    'With root verity and `abUpdate`, `/var/lib/trident-overlay` is not on an A/B volume pair.',
  ),
  HC_OVERLAY_READ_ONLY: code(
    'error',
    'With root verity, `/var/lib/trident-overlay` is on a read-only mount.',
  ),
  HC_OVERLAY_ON_VERITY: code(
    'error',
    'With root verity, `/var/lib/trident-overlay` is on a verity data device.',
  ),
  HC_DATASTORE_EXTENSION: code('error', '`trident.datastorePath` does not end in `.sqlite`.'),
  HC_DATASTORE_NOT_IN_VOLUME: code(
    'error',
    'No filesystem with a block device covers `trident.datastorePath` (and `trident.disable` is not true).',
  ),
  HC_DATASTORE_ON_AB: code('error', 'The datastore lies on an A/B volume pair.'),
  HC_SELF_UPGRADE_WITH_ROOT_VERITY: code(
    'error',
    '`internalParams.selfUpgradeTrident` with a read-only verity root.',
  ),
  HC_SELINUX_WITH_ROOT_VERITY: code(
    'warning',
    'SELinux is not `disabled` while `/` is on verity (works only with UKI).',
  ),
  HC_SELINUX_WITH_EXTENSIONS: code(
    'warning',
    'SELinux is set and not `disabled` while sysexts or confexts are configured (not supported together).',
  ),
  HC_EXTENSION_NOT_ON_AB: code(
    'error',
    'With `abUpdate`, a sysext/confext directory is not on an A/B volume.',
  ),
  HC_EXTENSION_PATH_INVALID: code(
    'error',
    'A sysext/confext `path` is not absolute, does not end in `.raw` or is outside the allowed directories.',
  ),
  HC_DUPLICATE_EXTENSION: code('error', 'Two sysexts/confexts share a `sha384` or a `path`.'),
  HC_DUPLICATE_USERNAME: code('error', 'Two users share a `name`.'),
  HC_ADDITIONAL_FILE_SOURCE: code(
    'error',
    'An additional file sets both or neither of `content` and `source`.',
  ),
  HC_INVALID_PERMISSIONS: code(
    'error',
    'An additional file `permissions` is not an octal string starting with 0 and at most 0777.',
  ),
  HC_NETPLAN_VERSION: code('error', 'Netplan `version` is not 2.'),
  HC_NETPLAN_RENDERER: code(
    'error',
    'Netplan `renderer` is `NetworkManager`: Trident supports `networkd` (and accepts `sriov`).',
  ),
  HC_NETPLAN_INTERFACE_NAME: code(
    'error',
    'A netplan interface id is not printable ASCII without spaces, or contains a glob character `*`, `?`, `[` or `]`.',
  ),
  HC_NETPLAN_FIELD_IGNORED: code(
    'warning',
    'A netplan top-level key Trident does not read (e.g. `modems`, `nm-devices`): it is dropped from the configuration written.',
  ),
  HC_SCRIPT_SOURCE: code('error', 'A script sets both or neither of `content` and `path`.'),
  HC_SCRIPT_PATH_NOT_ABSOLUTE: code('error', 'A postProvision/postConfigure script `path` is not absolute.'),
  HC_SCRIPT_NEVER_RUNS: code('warning', 'A script or health check has an empty `runOn`, so it never runs.'),
  // --- COSI cross-checks ---
  HC_COSI_ESP_COUNT: code('error', 'The image does not contain exactly one ESP filesystem.'),
  HC_COSI_UNUSED_FILESYSTEM: code(
    'error',
    'An image filesystem has no `source: image` filesystem at its mount point.',
  ),
  HC_COSI_MISSING_FILESYSTEM: code(
    'error',
    'A `source: image` filesystem mounts at a path the image does not provide.',
  ),
  HC_COSI_DUPLICATE_FS_UUID: code('error', 'Two non-ESP image filesystems share a filesystem UUID.'),
  HC_COSI_VERITY_MISMATCH: code(
    'error',
    'The image mount points with verity differ from the configuration mount points on verity devices.',
  ),
  HC_COSI_ESP_MOUNT_MISMATCH: code(
    'error',
    'The image ESP mount point differs from the configuration ESP mount point.',
  ),
  HC_COSI_ESP_VERITY: code('error', 'The image ESP has verity.'),
  HC_COSI_BOOT_FS_TYPE: code('error', 'The image filesystem holding `/boot` is not ext4.'),
  HC_COSI_SIZE_EXCEEDS_DEVICE: code(
    'error',
    'An image filesystem (or its verity hash) is larger than its target block device.',
  ),
  // --- migration ---
  HC_MIGRATE_WRAPPER: code('info', 'Removed the top-level `hostConfiguration:` wrapper.'),
  HC_MIGRATE_ALLOWED_OPERATIONS: code('warning', 'Removed `allowedOperations`; pass it on the command line.'),
  HC_MIGRATE_OS_IMAGE: code('info', 'Rewrote `osImage {type: cosi, url}` as `image {url, sha384}`.'),
  HC_MIGRATE_HASH_NOT_PINNED: code(
    'warning',
    'The migrated `image.sha384` is `ignored`; pin the metadata hash.',
  ),
  HC_MIGRATE_COSI_PARAM: code('info', 'Removed `internalParams.cosi`, which no longer does anything.'),
  HC_MIGRATE_VERITY_FILESYSTEMS: code(
    'info',
    'Rewrote a `verityFilesystems` entry as a `verity` device plus a filesystem.',
  ),
  HC_MIGRATE_SOURCE: code(
    'info',
    'Rewrote a filesystem `source` (map form, `create`, `os-image`, or the old default) in the current form.',
  ),
  HC_MIGRATE_TYPE_DROPPED: code(
    'info',
    'Removed a filesystem `type` that the current API forbids (image filesystems) or that equals the default.',
  ),
  HC_MIGRATE_SWAP: code('info', 'Moved a `type: swap` filesystem to `storage.swap`.'),
  HC_MIGRATE_NETPLAN: code('info', 'Renamed `network` to `netplan`.'),
  HC_MIGRATE_ALREADY_CURRENT: code('info', 'Nothing to migrate: the document already uses the current API.'),
  HC_MIGRATE_PARTITION_IMAGE: code(
    'error',
    'A filesystem (or verity filesystem) has its own image URL; partition images cannot be migrated.',
  ),
  HC_MIGRATE_TYPE_OTHER: code('error', 'A filesystem has `type: other`, which has no current equivalent.'),
  HC_MIGRATE_AMBIGUOUS: code(
    'error',
    'The document mixes markers of incompatible API eras, so the meaning of a missing `source` is unknown.',
  ),
  // --- thrown wrappers ---
  HC_INVALID_DOCUMENT: code(
    'error',
    'Thrown by `parseHostConfigOrThrow`/`migrateHostConfigOrThrow`: wraps the error findings.',
  ),
  HC_INVALID_ARGUMENT: code(
    'error',
    'Thrown when an API is called with an argument of the wrong kind (e.g. a non-string document).',
  ),
} as const satisfies Record<string, CodeInfo>;

export type HostConfigCode = keyof typeof CODES;

export function isHostConfigCode(value: string): value is HostConfigCode {
  return Object.hasOwn(CODES, value);
}
