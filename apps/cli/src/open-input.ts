import { type ByteSource, openFileSource } from '@trident/cosi-format';
import { CliError, EXIT } from './cli-error.ts';

/**
 * Opens what the user named: a local path or file:// URL here; http(s):// and oci:// through
 * @trident/remote-source, loaded only when needed so local work never pays for the network stack.
 */
export async function openInput(
  location: string,
  options: { signal?: AbortSignal; insecure?: boolean } = {},
): Promise<ByteSource> {
  if (/^(https?|oci):\/\//iu.test(location)) {
    const remote = (await import('@trident/remote-source')) as unknown as {
      openSource(url: string, options?: Record<string, unknown>): Promise<ByteSource>;
    };
    return remote.openSource(location, options.signal ? { signal: options.signal } : {});
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//iu.test(location) && !location.startsWith('file://')) {
    throw new CliError(
      'CLI_URL_SCHEME',
      `unsupported URL scheme in "${location}": use a path, file://, http://, https:// or oci://`,
      EXIT.usage,
    );
  }
  const path = location.startsWith('file://') ? decodeURIComponent(new URL(location).pathname) : location;
  return openFileSource(path);
}
