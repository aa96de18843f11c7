import type { ByteSource } from '@trident/cosi-format';

/** Options accepted by `read` and `stream`. */
export interface ReadOptions {
  signal?: AbortSignal | undefined;
}

/**
 * Random access to the bytes of one object: a local file, an HTTP(S) URL or an OCI blob. A
 * `@trident/cosi-format` `ByteSource`, so the COSI reader takes it as it is.
 */
export interface RandomAccessSource extends ByteSource {
  /** Where the bytes come from, safe to print (no credentials). */
  readonly url: string;
  /** Total size in bytes, learned once at open. */
  readonly size: number;
  /** Validator of the object version (HTTP ETag, OCI digest), when known. */
  readonly etag: string | undefined;
  /** `random`: any offset at any time. `sequential`: served forward from one response (no Range support). */
  readonly mode: 'random' | 'sequential';
  /** Reads exactly `length` bytes at `offset`; rejects if they cannot all be read. */
  read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array>;
  /** Streams `length` bytes from `offset` in network-sized chunks, resuming after faults. */
  stream(offset: number, length: number, options?: ReadOptions): AsyncIterable<Uint8Array>;
  /** Releases connections or file handles. Reads after close reject with REMOTE_CLOSED. */
  close(): Promise<void>;
}

export interface RetryOptions {
  /** Consecutive failed attempts without a single new byte before giving up. Default 6. */
  attempts?: number;
  /**
   * Total retries allowed over the life of one source (every read, stream, manifest and token
   * request of it), whatever the progress. Default 100. Per source, not per read, so a server that
   * stalls after every few bytes cannot renew the budget with each new read.
   */
  maxResumes?: number;
  /** First backoff delay. Default 100 ms; doubles per consecutive failure, with full jitter. */
  baseDelayMs?: number;
  /** Backoff ceiling, also the cap applied to `Retry-After`. Default 10 000 ms. */
  maxDelayMs?: number;
}

export interface ProxyOptions {
  /** Proxy for http:// URLs. Default: `HTTP_PROXY` / `http_proxy`. */
  http?: string;
  /** Proxy for https:// URLs. Default: `HTTPS_PROXY` / `https_proxy`, else the http proxy. */
  https?: string;
  /** Comma-separated hosts that bypass the proxy. Default: `NO_PROXY` / `no_proxy`. */
  noProxy?: string;
}

export interface HttpOptions {
  /** Extra request headers. `authorization`/`cookie` are sent to the original origin only. */
  headers?: Record<string, string>;
  /** PEM CA bundle (string, Buffer or several) trusted in addition to Node's bundled roots. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Proxy settings. Default: from the environment. */
  proxy?: ProxyOptions;
  retry?: RetryOptions;
  /** Body stall (idle) timeout: no byte for this long resumes the transfer. Default 30 000 ms. */
  idleTimeoutMs?: number;
  /**
   * Minimum body throughput in bytes per second, averaged over `throughputWindowMs` of waiting for
   * the server. Slower counts as a stall: the transfer is resumed, and a transfer that keeps
   * failing ends with REMOTE_TOO_SLOW. Default 1024 (1 KiB/s); 0 disables the check.
   */
  minBytesPerSecond?: number;
  /** Window the minimum throughput is averaged over. Default 30 000 ms. */
  throughputWindowMs?: number;
  /**
   * Overall deadline of a source, from open to close (resolution, auth, every read and retry), or of
   * a push. Past it everything in flight ends with REMOTE_TIMEOUT. Default 86 400 000 (24 h); 0: none.
   */
  timeoutMs?: number;
  /** Wait for response headers. Default 30 000 ms. */
  headersTimeoutMs?: number;
  /** TCP/TLS connect timeout. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Redirect hops followed per request. Default 10. */
  maxRedirects?: number;
  /**
   * `auto` (default): Range requests when the server supports them, else sequential mode with a
   * warning. `ranges`: fail with REMOTE_RANGE_UNSUPPORTED instead. `sequential`: never send Range.
   */
  rangeMode?: 'auto' | 'ranges' | 'sequential';
}
