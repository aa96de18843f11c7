import type { ParseArgsConfig } from 'node:util';

/** Every flag the `trident` command accepts; each command reads the ones it needs. */
export const OPTIONS = {
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  version: { type: 'boolean', short: 'V', default: false },
  quiet: { type: 'boolean', short: 'q', default: false },
  verbose: { type: 'boolean', short: 'v', default: false },
  output: { type: 'string', short: 'o' },
  // cosi validate
  profile: { type: 'string', default: 'trident' },
  'metadata-only': { type: 'boolean', default: false },
  sha384: { type: 'string' },
  // cosi build
  level: { type: 'string' },
  'window-log': { type: 'string' },
  long: { type: 'boolean', default: false },
  'seekable-frame-mib': { type: 'string' },
  'no-shrink': { type: 'boolean', default: false },
  'os-arch': { type: 'string' },
  bootloader: { type: 'string' },
  verity: { type: 'string', multiple: true, default: [] },
  mount: { type: 'string', multiple: true, default: [] },
  id: { type: 'string' },
  // remote sources
  'ca-file': { type: 'string' },
  header: { type: 'string', multiple: true, default: [] },
  'plain-http': { type: 'boolean', default: false },
  platform: { type: 'string' },
  username: { type: 'string' },
  'password-stdin': { type: 'boolean', default: false },
  'min-throughput': { type: 'string' },
  'throughput-window': { type: 'string' },
  timeout: { type: 'string' },
  // validate (Host Configuration)
  image: { type: 'string' },
  // stream-disk / install
  hash: { type: 'string' },
  disk: { type: 'string', multiple: true, default: [] },
  'target-image': { type: 'string' },
  'target-size': { type: 'string' },
  force: { type: 'boolean', default: false },
  'dry-run': { type: 'boolean', default: false },
  strict: { type: 'boolean', default: false },
  'no-resize': { type: 'boolean', default: false },
  'allow-arch-mismatch': { type: 'boolean', default: false },
  concurrency: { type: 'string' },
  codec: { type: 'string' },
  resume: { type: 'boolean', default: false },
  // install / update / rollback
  'allowed-operations': { type: 'string', multiple: true },
  'no-reboot': { type: 'boolean', default: false },
  datastore: { type: 'string' },
  // stream-disk / install / cosi validate
  'memory-limit': { type: 'string' },
  // grpc-client / daemon
  server: { type: 'string', short: 's' },
} as const satisfies ParseArgsConfig['options'];
