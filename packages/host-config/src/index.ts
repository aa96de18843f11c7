export { CODES, isHostConfigCode, type CodeInfo, type HostConfigCode, type Severity } from './codes.ts';
export { formatFinding, hasErrors, HostConfigError, isHostConfigError, type Finding } from './errors.ts';
export { formatPath, type Path } from './path.ts';
export { parseHostConfig, parseHostConfigOrThrow, validateHostConfig, type ParseOptions, type ParseResult } from './parse.ts';
export { validateSemantics, type SemanticOptions } from './validate.ts';
export {
  HostConfigurationSchema,
  type Disk,
  type FileSystem,
  type HostConfiguration,
  type HostConfigurationInput,
  type Partition,
  type Storage,
  type VerityDevice,
} from './schema/root.ts';
export { parseByteCount } from './scalars.ts';
export { partitionTypeGuid, PARTITION_TYPE_NAMES, ACL_USR_TYPE, type Arch, type PartitionTypeName } from './partition-types.ts';
export { isReadOnly, normalizeMountPath } from './mount-paths.ts';
export { blockDeviceSize, checkImageCompatibility, type CosiCheckOptions, type ImageFacts, type ImageFilesystemFacts } from './cosi-checks.ts';
export { migrateHostConfig, migrateHostConfigOrThrow, type MigrateOptions, type MigrationResult } from './migrate/migrate.ts';
export { detectEra, type ApiEra, type EraVerdict } from './migrate/detect.ts';
export { hostConfigJsonSchema, HOST_CONFIG_SCHEMA_ID } from './json-schema.ts';
