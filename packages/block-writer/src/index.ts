export {
  type BlockTarget,
  type CloseOptions,
  type CreateFileTargetOptions,
  createFileTarget,
  type OpenBlockTargetOptions,
  openBlockTarget,
} from './block-target.ts';
export {
  type BlockWriterStep,
  type BlockWriterWarning,
  STEP_CHANNEL,
  WARNING_CHANNEL,
} from './diagnostics.ts';
export {
  type ConsideredDisk,
  type DiscoverDisksOptions,
  type DiskSelection,
  type DiskSelectionRequest,
  describeDiskSelection,
  discoverDisks,
  selectDisk,
  TRIDENT_DISK_PREFIXES,
} from './discovery.ts';
export {
  BlockWriterError,
  type BlockWriterErrorCode,
  type BlockWriterErrorDetails,
  isBlockWriterError,
} from './errors.ts';
export { type FileIdentity, loopDevicesBackedBy } from './file-identity.ts';
export { type OpenFileTargetOptions, openFileTarget } from './file-target.ts';
export { decodeGptRegion } from './gpt.ts';
export {
  type GrowFilesystemRequest,
  type GrowFilesystemsOptions,
  type GrowResult,
  growFilesystem,
  growShrunkFilesystems,
  type PartitionRange,
  type WrittenImage,
} from './grow.ts';
export { inspectFileTarget } from './inspect-file-target.ts';
export { makeFilesystem, type NewFilesystem, type NewFilesystemType } from './make-filesystem.ts';
export { describePartition, openPartitionTarget, type PartitionTarget } from './partition-target.ts';
export {
  type ExpectedPartition,
  type RereadOptions,
  type RereadResult,
  rereadPartitionTable,
} from './reread.ts';
export {
  checkTargetSafety,
  inspectTarget,
  type SafetyProblem,
  type SafetyReport,
  type SafetyRequirements,
} from './safety.ts';
export { type BlockDeviceInfo, type PartitionInfo, partitionDevicePath } from './sysfs.ts';
export {
  DEFAULT_WIPE_BYTES,
  planGpt,
  readGpt,
  type WipeOptions,
  type WriteGptOptions,
  type WrittenGpt,
  type WrittenPartition,
  wipeSignatures,
  writeGpt,
} from './write-gpt.ts';
