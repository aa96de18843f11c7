export { DEFAULT_MAX_MANIFEST_BYTES } from './body-limit.ts';
export * from './diagnostics.ts';
export { isDigest } from './digest.ts';
export {
  type DockerConfigEntry,
  loadDockerCredentials,
  type RegistryCredentials,
  readDockerConfig,
} from './docker-config.ts';
export * from './errors.ts';
export { openFileSource } from './file-source.ts';
export { type AuthProvider, HttpClient } from './http-client.ts';
export { type OpenHttpOptions, openHttpSource } from './http-source.ts';
export * from './media-types.ts';
export { parseChallenge } from './oci-auth.ts';
export { type PushOptions, type PushResult, pushOci } from './oci-push.ts';
export { formatOciReference, type OciReference, parseOciReference } from './oci-reference.ts';
export type { OciOptions } from './oci-registry.ts';
export { type OciSource, openOciSource } from './oci-source.ts';
export { type OpenSourceOptions, openSource } from './open-source.ts';
export { formatPlatform, hostPlatform, normalizePlatform, type Platform, parsePlatform } from './platform.ts';
export { DEFAULT_RETRY } from './retry.ts';
export { DEFAULT_TIMEOUT_MS } from './source-budget.ts';
export type * from './types.ts';
