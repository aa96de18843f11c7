import { discard, drain } from './body-limit.ts';
import {
  formatRange,
  isStrongEtag,
  parseContentRange,
  parseUnsatisfiedRange,
  sameEtag,
} from './content-range.ts';
import { publish } from './diagnostics.ts';
import { RemoteSourceError, redactUrl, statusError } from './errors.ts';
import { type AuthProvider, type HttpClient, header, type SendResponse } from './http-client.ts';
import { isRetryableStatus, parseRetryAfter, TransientFailure } from './retry.ts';
import { RetryState } from './retry-state.ts';

export { digestHasher } from './digest.ts';

/** What `openHttpSource` needs besides options: the object, its client and optional OCI facts. */
export interface HttpObjectInit {
  url: URL;
  client: HttpClient;
  /** Close the client with the source. */
  ownsClient: boolean;
  auth?: AuthProvider | undefined;
  /** Printable name (e.g. the oci:// reference); default the redacted URL. */
  label?: string | undefined;
  /** Size known in advance (OCI descriptor); checked against the server. */
  expectedSize?: number | undefined;
  /** `sha256:<hex>` checked on whole-object reads (OCI blobs). */
  digest?: string | undefined;
}

/**
 * State shared by the range and sequential readers of one HTTP object: the cached final location
 * after redirects, size, validators (ETag / Last-Modified) and the retry loop.
 */
export class HttpObject {
  readonly original: URL;
  location: URL;
  readonly client: HttpClient;
  readonly ownsClient: boolean;
  readonly auth: AuthProvider | undefined;
  readonly label: string;
  readonly digest: string | undefined;
  size = 0;
  etag: string | undefined;
  lastModified: string | undefined;
  acceptRanges: 'bytes' | 'none' | 'unknown' = 'unknown';
  closed = false;

  constructor(init: HttpObjectInit) {
    this.original = init.url;
    this.location = init.url;
    this.client = init.client;
    this.ownsClient = init.ownsClient;
    this.auth = init.auth;
    this.label = init.label ?? redactUrl(init.url);
    this.digest = init.digest;
  }

  /** The `If-Range` validator: a strong ETag, else Last-Modified (RFC 9110 §13.1.5). */
  get ifRange(): string | undefined {
    if (isStrongEtag(this.etag)) return this.etag;
    return this.etag === undefined ? this.lastModified : undefined;
  }

  /**
   * GET from the cached location. If a cached redirect target refuses us (an expired signed
   * storage URL), go back to the original URL once and cache its new final location.
   */
  async get(range: string | undefined, signal: AbortSignal | undefined): Promise<SendResponse> {
    const headers: Record<string, string> = {};
    if (range !== undefined) {
      headers.range = range;
      const validator = this.ifRange;
      if (validator !== undefined) headers['if-range'] = validator;
    }
    let response = await this.client.send({
      method: 'GET',
      url: this.location,
      headers,
      signal,
      auth: this.auth,
      credentialOrigin: this.original.origin,
    });
    if ([401, 403, 404, 410].includes(response.status) && this.location.href !== this.original.href) {
      await drain(response.body);
      publish.warning({
        url: this.label,
        code: 'REDIRECT_EXPIRED',
        message: `cached location answered ${response.status}; asking ${redactUrl(this.original)} again`,
      });
      response = await this.client.send({
        method: 'GET',
        url: this.original,
        headers,
        signal,
        auth: this.auth,
      });
    }
    this.location = response.url;
    return response;
  }

  /** Rejects a response whose validator says the object is not the one we opened. */
  checkSame(response: SendResponse, offset: number): void {
    const etag = header(response.headers, 'etag');
    const changed =
      (this.etag !== undefined && etag !== undefined && !sameEtag(this.etag, etag)) ||
      (this.etag === undefined &&
        this.lastModified !== undefined &&
        header(response.headers, 'last-modified') !== undefined &&
        header(response.headers, 'last-modified') !== this.lastModified);
    if (changed)
      throw this.changedError(
        `ETag ${this.etag ?? this.lastModified} became ${etag ?? header(response.headers, 'last-modified')}`,
        offset,
        response.status,
      );
  }

  changedError(what: string, offset: number, status?: number): RemoteSourceError {
    return new RemoteSourceError(
      'REMOTE_CHANGED',
      `${this.label} changed while it was being read (${what}, at byte ${offset}); bytes of two versions are never mixed: start again against the new object, or publish images under new URLs instead of overwriting`,
      { url: this.label, offset, ...(status === undefined ? {} : { status }) },
    );
  }

  /** Turns a non-2xx status into a permanent error or a TransientFailure. */
  async failStatus(response: SendResponse, method: string): Promise<never> {
    const status = response.status;
    await drain(response.body);
    if (isRetryableStatus(status)) {
      const retryAfterMs = parseRetryAfter(header(response.headers, 'retry-after'));
      throw new TransientFailure(`HTTP ${status}`, {
        status,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });
    }
    const where = response.url.origin === this.original.origin ? this.label : response.url;
    if (this.auth && (status === 401 || status === 403)) {
      throw new RemoteSourceError(
        'REMOTE_OCI_AUTH',
        `${method} ${redactUrl(where)} failed with HTTP ${status}: the registry refused the blob; supply credentials (options or docker config.json) with pull rights`,
        { url: this.label, status },
      );
    }
    throw statusError(status, method, where);
  }

  /** A retry budget for one operation (probe, `stream()`, `read()`). */
  retries(what: string, signal: AbortSignal | undefined, resumeOffset: () => number | undefined): RetryState {
    return new RetryState(this, what, signal, resumeOffset);
  }

  /** Runs `attempt` until it succeeds, retrying TransientFailures and transport errors. */
  async withRetries<T>(what: string, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
    const state = this.retries(what, signal, () => undefined);
    for (;;) {
      state.check();
      try {
        return await attempt();
      } catch (err) {
        await state.fail(err);
      }
    }
  }

  /**
   * Learns size, validators and range support once: HEAD, or a `bytes=0-0` GET where HEAD is
   * refused (405/501, presigned URLs answering 403) or says nothing about ranges.
   */
  async probe(signal: AbortSignal | undefined, expectedSize: number | undefined): Promise<void> {
    await this.withRetries('HEAD', signal, async () => {
      const head = await this.client.send({
        method: 'HEAD',
        url: this.location,
        signal,
        auth: this.auth,
        credentialOrigin: this.original.origin,
      });
      await drain(head.body);
      this.location = head.url;
      const length = header(head.headers, 'content-length');
      if (head.status >= 200 && head.status < 300 && length !== undefined && /^\d+$/.test(length)) {
        this.size = Number(length);
        this.etag = header(head.headers, 'etag');
        this.lastModified = header(head.headers, 'last-modified');
        const accept = header(head.headers, 'accept-ranges')?.trim().toLowerCase();
        this.acceptRanges = accept === undefined ? 'unknown' : accept === 'none' ? 'none' : 'bytes';
        if (this.acceptRanges !== 'unknown') return;
      } else if (
        head.status === 404 ||
        head.status === 410 ||
        head.status === 401 ||
        (isRetryableStatus(head.status) && head.status !== 501)
      ) {
        await this.failStatus(head, 'HEAD');
      }
      await this.probeWithGet(signal);
    });
    if (expectedSize !== undefined && expectedSize !== this.size) {
      throw new RemoteSourceError(
        'REMOTE_CHANGED',
        `${this.label} is ${this.size} bytes but its descriptor says ${expectedSize}; the registry or storage serves a different object`,
        { url: this.label },
      );
    }
  }

  private async probeWithGet(signal: AbortSignal | undefined): Promise<void> {
    const response = await this.client.send({
      method: 'GET',
      url: this.location,
      headers: { range: formatRange(0, 0) },
      signal,
      auth: this.auth,
      credentialOrigin: this.original.origin,
    });
    this.location = response.url;
    const etag = header(response.headers, 'etag');
    if (response.status === 206) {
      await drain(response.body);
      const range = parseContentRange(header(response.headers, 'content-range'));
      if (range?.total === undefined || range.start !== 0) {
        throw new RemoteSourceError(
          'REMOTE_BAD_CONTENT_RANGE',
          `GET ${this.label} (Range: bytes=0-0) answered 206 with Content-Range ${header(response.headers, 'content-range') ?? '(none)'}; the server's range support is broken: use rangeMode 'sequential'`,
          { url: this.label, status: 206 },
        );
      }
      this.size = range.total;
      this.acceptRanges = 'bytes';
    } else if (response.status === 416) {
      await drain(response.body);
      this.size = parseUnsatisfiedRange(header(response.headers, 'content-range')) ?? 0;
      this.acceptRanges = 'bytes';
    } else if (response.status >= 200 && response.status < 300) {
      // Ranges ignored: the full body is on its way; we only needed the headers.
      discard(response.body);
      const length = header(response.headers, 'content-length');
      if (length === undefined || !/^\d+$/.test(length)) {
        throw new RemoteSourceError(
          'REMOTE_NO_LENGTH',
          `GET ${this.label} answered ${response.status} without Content-Length or Range support, so its size cannot be known; serve it from a server with Range support (nginx, any CDN)`,
          { url: this.label, status: response.status },
        );
      }
      this.size = Number(length);
      this.acceptRanges = 'none';
    } else {
      await this.failStatus(response, 'GET');
    }
    this.etag = etag ?? this.etag;
    this.lastModified = header(response.headers, 'last-modified') ?? this.lastModified;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.ownsClient) await this.client.close();
  }
}
