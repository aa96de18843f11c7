/** trident.v1.VersionService: our semver, no locks. */
import { createRequire } from 'node:module';
import type { ServiceImpl } from '@connectrpc/connect';
import type { VersionService } from '../gen/trident/v1/version_service_pb.ts';

let cached: string | undefined;

/** The daemon package version; TRIDENT_VERSION overrides it, as Trident's build-time variable does. */
export function daemonVersion(env: NodeJS.ProcessEnv = process.env): string {
  const override = env['TRIDENT_VERSION'];
  if (override !== undefined && /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/.test(override))
    return override;
  // By the package's own name: this module also runs from the CLI's bundle, elsewhere in the tree.
  cached ??= (createRequire(import.meta.url)('@trident/daemon/package.json') as { version: string }).version;
  return cached;
}

export function createVersionService(version: string): ServiceImpl<typeof VersionService> {
  return {
    version() {
      return { version };
    },
  };
}
