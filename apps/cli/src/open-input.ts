import type { ByteSource } from '@trident/cosi-format';
import { openSource } from '@trident/remote-source';
import { remoteOptions, type SourceFlags } from './source-options.ts';

/**
 * Opens what the user named: a path, file://, http(s):// or oci:// location, through
 * @trident/remote-source (resumable ranges, OCI registries).
 */
export async function openInput(
  location: string,
  options: { signal?: AbortSignal; source?: SourceFlags } = {},
): Promise<ByteSource> {
  return (await openSource(location, {
    ...remoteOptions(options.source ?? {}),
    ...(options.signal ? { signal: options.signal } : {}),
  })) as ByteSource;
}
