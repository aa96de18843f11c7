import { fileURLToPath } from 'node:url';
import { RemoteSourceError } from './errors.ts';
import { openFileSource } from './file-source.ts';
import { openHttpSource } from './http-source.ts';
import type { OciOptions } from './oci-registry.ts';
import { openOciSource } from './oci-source.ts';
import type { RandomAccessSource } from './types.ts';

/** Options for `openSource`: HTTP options apply to http(s) and OCI; OCI options to oci:// only. */
export type OpenSourceOptions = OciOptions;

/**
 * Opens `file://` URLs and plain paths, `http://`, `https://` and `oci://` references as a
 * RandomAccessSource. Size, validator and range support are learned here, once.
 */
export async function openSource(
  location: string,
  options: OpenSourceOptions = {},
): Promise<RandomAccessSource> {
  if (location.startsWith('oci://')) return openOciSource(location, options);
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(location)?.[1]?.toLowerCase();
  if (scheme === undefined) return openFileSource(location);
  if (scheme === 'file') {
    let path: string;
    try {
      path = fileURLToPath(location);
    } catch (err) {
      throw new RemoteSourceError(
        'REMOTE_INVALID_URL',
        `invalid file URL '${location}': ${(err as Error).message}`,
        { url: location, cause: err },
      );
    }
    return openFileSource(path);
  }
  if (scheme === 'http' || scheme === 'https') {
    let url: URL;
    try {
      url = new URL(location);
    } catch (err) {
      throw new RemoteSourceError(
        'REMOTE_INVALID_URL',
        `invalid URL '${location}': ${(err as Error).message}`,
        { url: location, cause: err },
      );
    }
    return openHttpSource(url, options);
  }
  throw new RemoteSourceError(
    'REMOTE_UNSUPPORTED_SCHEME',
    `unsupported URL scheme '${scheme}' in '${location}': use a path, file://, http://, https:// or oci://`,
    { url: location },
  );
}
