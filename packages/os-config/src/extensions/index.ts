export { downloadExtension } from './download.ts';
export { imageFormat, readExtensionRelease } from './inspect.ts';
export {
  DEFAULT_EXTENSION_DIRS,
  EXTENSION_STAGING_DIR,
  type ExtensionKind,
  RELEASE_DIRS,
} from './paths.ts';
export {
  cleanExtensionStaging,
  type Placement,
  placeExtensions,
  refreshExtensions,
  withExtensionPaths,
} from './place.ts';
export { type ExtensionRelease, parseOsRelease } from './release.ts';
export {
  EXTENSION_KINDS,
  type ExtensionEntry,
  type ExtensionLists,
  type StagedExtension,
  type StageOptions,
  stageExtensions,
} from './stage.ts';
