import { publish } from './diagnostics.ts';
import { RemoteSourceError, redactUrl } from './errors.ts';
import { type AuthProvider, HttpClient } from './http-client.ts';
import { HttpObject } from './http-object.ts';
import { RangeSource } from './range-source.ts';
import { SequentialSource } from './sequential-source.ts';
import type { HttpOptions, RandomAccessSource } from './types.ts';

export interface OpenHttpOptions extends HttpOptions {
  signal?: AbortSignal | undefined;
  /** Share one client (connection pool) between sources; it is then not closed with the source. */
  client?: HttpClient;
}

/** Internal extras used by the OCI source. */
export interface HttpSourceExtras {
  auth?: AuthProvider | undefined;
  label?: string | undefined;
  expectedSize?: number | undefined;
  digest?: string | undefined;
  /** Close the client with the source even though it was passed in. */
  ownsClient?: boolean;
}

/**
 * Opens an http(s) URL: learns size, validator and range support once, then returns a RangeSource,
 * or a SequentialSource (with a warning) when the server cannot serve ranges.
 */
export async function openHttpSource(
  url: URL,
  options: OpenHttpOptions = {},
  extras: HttpSourceExtras = {},
): Promise<RandomAccessSource> {
  const client = options.client ?? new HttpClient(options, { label: extras.label ?? redactUrl(url) });
  const object = new HttpObject({
    url,
    client,
    ownsClient: extras.ownsClient ?? options.client === undefined,
    auth: extras.auth,
    label: extras.label,
    expectedSize: extras.expectedSize,
    digest: extras.digest,
  });
  try {
    const mode = client.options.rangeMode;
    await object.probe(options.signal, extras.expectedSize);
    if (mode === 'sequential') return new SequentialSource(object);
    if (object.acceptRanges === 'none') {
      if (mode === 'ranges') {
        throw new RemoteSourceError(
          'REMOTE_RANGE_UNSUPPORTED',
          `${object.label} is served without Range support (Accept-Ranges: none, or a ranged GET answered 200); serve it from a range-capable server, or allow rangeMode 'auto'/'sequential'`,
          { url: object.label },
        );
      }
      publish.warning({
        url: object.label,
        code: 'SEQUENTIAL_MODE',
        message: `${object.label} does not support Range requests: reading it sequentially (each backwards read or fault downloads again from byte 0)`,
      });
      return new SequentialSource(object);
    }
    return new RangeSource(object);
  } catch (err) {
    await object.close();
    throw err;
  }
}
