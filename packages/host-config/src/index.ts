// The size grammar lives in @trident/units; re-exported because it is the Host Configuration's ByteCount.
export { BYTE_COUNT_TEXT, type ByteCountGrammar, formatBytes, parseByteCount } from '@trident/units';
export { CODES, type CodeInfo, type HostConfigCode, isHostConfigCode, type Severity } from './codes.ts';
export {
  blockDeviceSize,
  type CosiCheckOptions,
  checkImageCompatibility,
  type ImageFacts,
  type ImageFilesystemFacts,
} from './cosi-checks.ts';
export { type Finding, formatFinding, HostConfigError, hasErrors, isHostConfigError } from './errors.ts';
export { HOST_CONFIG_SCHEMA_ID, hostConfigJsonSchema } from './json-schema.ts';
export { type ApiEra, detectEra, type EraVerdict } from './migrate/detect.ts';
export {
  type MigrateOptions,
  type MigrationResult,
  migrateHostConfig,
  migrateHostConfigOrThrow,
} from './migrate/migrate.ts';
export { isReadOnly, normalizeMountPath } from './mount-paths.ts';
export {
  type ParseOptions,
  type ParseResult,
  parseHostConfig,
  parseHostConfigOrThrow,
  validateHostConfig,
} from './parse.ts';
export {
  ACL_USR_TYPE,
  type Arch,
  PARTITION_TYPE_NAMES,
  type PartitionTypeName,
  partitionTypeGuid,
} from './partition-types.ts';
export { formatPath, type Path } from './path.ts';
export { MAX_FINDINGS } from './rules/context.ts';
export { GPT_ENTRIES } from './rules/graph-devices.ts';
export { isNetplanKey, NETPLAN_DEVICE_SECTIONS } from './schema/os.ts';
export {
  type Disk,
  type FileSystem,
  type HostConfiguration,
  type HostConfigurationInput,
  HostConfigurationSchema,
  type Partition,
  type Storage,
  type VerityDevice,
} from './schema/root.ts';
export { type SemanticOptions, validateSemantics } from './validate.ts';
export {
  MAX_DOCUMENT_BYTES,
  MAX_EXPANDED_NODES,
  MAX_YAML_DEPTH,
  MAX_YAML_NODES,
  plainDocument,
} from './yaml-source.ts';
