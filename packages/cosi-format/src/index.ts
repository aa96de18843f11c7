export { type ByteSource, createBufferSource, streamRange } from './byte-source.ts';
export { CosiError, type CosiErrorCode, isCosiError } from './errors.ts';
export {
  type FileSource,
  type FileSourceErrorFactory,
  type FileSourceOptions,
  type FileSourceProblem,
  openFileSource,
} from './file-source.ts';
export {
  DEFAULT_ENTRY_COUNT,
  DEFAULT_ENTRY_SIZE,
  encodeGptEntries,
  encodeGptHeader,
  encodeGptRegion,
  encodeProtectiveMbr,
  GPT_HEADER_SIZE,
  GPT_REVISION,
  GPT_SIGNATURE,
  type GptEntry,
  type GptHeaderFields,
  type GptRegionSpec,
  protectiveRecordIndex,
  sizeProtectiveMbr,
} from './gpt/encode.ts';
export {
  type DecodedGpt,
  decodeGpt,
  decodeGptHeader,
  detectLbaSize,
  type Gpt,
  type GptHeader,
  type GptPartition,
  type GptProblem,
  type GptProblemCode,
  gptRegionLength,
  type LbaSize,
  parseGpt,
  partitionSize,
} from './gpt/gpt.ts';
export { guidFromBytes, guidToBytes, normalizeUuid } from './gpt/guid.ts';
export {
  ESP_TYPE_GUID,
  isDpsName,
  LINUX_GENERIC_TYPE_GUID,
  type PartitionTypeInfo,
  partitionTypeGuidByName,
  partitionTypeInfo,
} from './gpt/partition-types.ts';
export {
  type ExpectedSha384,
  formatSha384,
  isWellFormedSha384,
  parseSha384Spec,
  unsupportedHashKindMessage,
} from './hash-spec.ts';
export {
  MAX_METADATA_BYTES,
  metadataSha384,
  type ParsedMetadata,
  parseMetadataBytes,
} from './metadata/parse.ts';
export * from './metadata/schema.ts';
export {
  isJsonDocument,
  type MetadataDocument,
  readMetadataDocument,
  validateMetadataDocument,
} from './metadata/standalone.ts';
export { type CosiReader, type OpenCosiOptions, openCosi } from './reader/open-cosi.ts';
export type { ImageVerification } from './reader/verify-images.ts';
export {
  normalizeMemberPath,
  readTarIndex,
  type TarEntry,
  type TarEntryType,
  type TarIndex,
} from './tar/tar-index.ts';
export type { ValidationContext } from './validation/context.ts';
export {
  type Finding,
  MAX_FINDINGS,
  type ValidationProfile,
  type ValidationReport,
} from './validation/findings.ts';
export { validateCosiContext } from './validation/validate.ts';
export { type BootloaderInfo, peSections, type SystemdBootEntryInfo } from './writer/bootloader.ts';
export {
  type BuildCosiOptions,
  type BuildCosiResult,
  buildChannel,
  buildCosi,
  type CompressionSettings,
  DEFAULT_COMPRESSION,
  type VerityDeclaration,
} from './writer/build.ts';
export { createNodeZstdCodec, type ZstdCodec } from './writer/codec.ts';
export { type ExtractCosiOptions, type ExtractedImage, extractCosi } from './writer/extract.ts';
export { VERIFY_BUFFER_BYTES, VERIFY_BUFFERS, VERIFY_QUEUE_BYTES } from './writer/verify-buffers.ts';
export { nodeZlibDecoder, type ZstdDecoder } from './zstd.ts';
