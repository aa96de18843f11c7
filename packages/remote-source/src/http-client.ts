import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import type { Dispatcher } from 'undici';
import { contentLength, discard, drain } from './body-limit.ts';
import { publish } from './diagnostics.ts';
import { RemoteSourceError, redactUrl } from './errors.ts';
import { type ResolvedRetry, resolveRetry } from './retry.ts';
import { DEFAULT_TIMEOUT_MS, SourceBudget } from './source-budget.ts';
import type { ThroughputLimits } from './throughput.ts';
import { permanentTransportError } from './transport-errors.ts';
import type { HttpOptions } from './types.ts';
import { EnvHttpProxyAgent, request } from './undici-core.ts';

export { discard } from './body-limit.ts';

/** Supplies credentials for one origin, and refreshes them on a 401 (OCI registries). */
export interface AuthProvider {
  /** `scheme://host:port` the credentials belong to; never sent anywhere else. */
  readonly origin: string;
  authorization(signal?: AbortSignal): Promise<string | undefined>;
  /**
   * Called on a 401 from `origin` to a request sent with `sent` (undefined: anonymous); true when
   * retrying with new credentials is worthwhile. May throw a coded error (credentials rejected).
   */
  unauthorized(
    challenge: string | undefined,
    sent: string | undefined,
    signal?: AbortSignal,
  ): Promise<boolean>;
  /**
   * Called when a request sent again with renewed credentials (`sent`) still gets 401: the coded
   * error when that means the credentials themselves are wrong, else undefined (access denied).
   */
  rejected?(sent: string | undefined): Error | undefined;
}

export interface SendRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';
  url: URL;
  headers?: Record<string, string>;
  /** Body factory, so a request can be re-sent after a 401 or redirect. */
  body?: () => string | Buffer | Readable;
  signal?: AbortSignal | undefined;
  auth?: AuthProvider | undefined;
  followRedirects?: boolean;
  /** Origin the extra `authorization`/`cookie` headers belong to. Default: the origin of `url`. */
  credentialOrigin?: string | undefined;
}

export interface SendResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Dispatcher.ResponseData['body'];
  /** Final URL after redirects. */
  url: URL;
}

export interface ResolvedHttpOptions {
  headers: Record<string, string>;
  retry: ResolvedRetry;
  idleTimeoutMs: number;
  headersTimeoutMs: number;
  maxRedirects: number;
  rangeMode: 'auto' | 'ranges' | 'sequential';
  throughput: ThroughputLimits;
  timeoutMs: number;
}

/** Where a client is used: names for messages. */
export interface HttpClientContext {
  /** Printable name of what the client reads (URL or oci:// reference). */
  label?: string;
  /** Advice when an https:// endpoint speaks plain HTTP. */
  plainHttpHint?: string;
}

const DEFAULT_PLAIN_HTTP_HINT = 'use an http:// URL, or fix the server';

// Credentials ride only to the origin they were given for (reqwest drops them on host or port
// change; fetch drops Authorization cross-origin). Other extra headers follow redirects.
const SENSITIVE = new Set(['authorization', 'cookie', 'proxy-authorization']);

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function nonNegative(value: number | undefined, name: string, fallback: number, positive = false): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0 || (positive && value === 0)) {
    throw new RemoteSourceError(
      'REMOTE_INVALID_OPTION',
      `option ${name} must be a ${positive ? 'positive' : 'non-negative'} number, not ${value}`,
    );
  }
  return value;
}

/**
 * One undici dispatcher (keep-alive pool, proxy from the environment or options, extra CA) and a
 * `send` that follows redirects itself, so the final location can be cached by callers and
 * credentials never leave their origin. Each client carries the budget of the source it serves
 * (overall deadline, retries): a source makes its own client.
 */
export class HttpClient {
  readonly dispatcher: Dispatcher;
  readonly options: ResolvedHttpOptions;
  readonly budget: SourceBudget;
  readonly #plainHttpHint: string;
  #closing: Promise<void> | undefined;

  constructor(options: HttpOptions = {}, context: HttpClientContext = {}) {
    const tls = options.ca === undefined ? {} : { ca: [...rootCertificates, ...[options.ca].flat()] };
    const proxy = options.proxy ?? {};
    this.dispatcher = new EnvHttpProxyAgent({
      ...(proxy.http === undefined ? {} : { httpProxy: proxy.http }),
      ...(proxy.https === undefined ? {} : { httpsProxy: proxy.https }),
      ...(proxy.noProxy === undefined ? {} : { noProxy: proxy.noProxy }),
      keepAliveTimeout: 30_000,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
      connect: tls,
      requestTls: tls,
    });
    this.options = {
      headers: Object.fromEntries(
        Object.entries(options.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
      ),
      retry: resolveRetry(options.retry),
      idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
      headersTimeoutMs: options.headersTimeoutMs ?? 30_000,
      maxRedirects: options.maxRedirects ?? 10,
      rangeMode: options.rangeMode ?? 'auto',
      throughput: {
        minBytesPerSecond: nonNegative(options.minBytesPerSecond, 'minBytesPerSecond', 1024),
        windowMs: nonNegative(options.throughputWindowMs, 'throughputWindowMs', 30_000, true),
      },
      timeoutMs: nonNegative(options.timeoutMs, 'timeoutMs', DEFAULT_TIMEOUT_MS),
    };
    this.budget = new SourceBudget(
      context.label ?? 'remote source',
      this.options.timeoutMs,
      this.options.retry.maxResumes,
    );
    this.#plainHttpHint = context.plainHttpHint ?? DEFAULT_PLAIN_HTTP_HINT;
  }

  async send(req: SendRequest): Promise<SendResponse> {
    const origin = req.credentialOrigin ?? req.url.origin;
    let url = req.url;
    let method = req.method;
    let authRetried = false;
    for (let hop = 0; ; ) {
      const headers: Record<string, string> = {};
      const sameOrigin = url.origin === origin;
      for (const [name, value] of Object.entries(this.options.headers)) {
        if (sameOrigin || !SENSITIVE.has(name)) headers[name] = value;
      }
      Object.assign(headers, req.headers);
      if (req.auth && url.origin === req.auth.origin) {
        const authorization = await req.auth.authorization(req.signal);
        if (authorization !== undefined) headers.authorization = authorization;
      } else if (!sameOrigin) {
        delete headers.authorization;
      }
      publish.request({ method, url: redactUrl(url), range: headers.range });
      this.budget.check();
      let response: Dispatcher.ResponseData;
      try {
        response = await request(this.dispatcher, url, {
          method,
          headers,
          body: req.body?.() ?? null,
          signal: this.budget.link(req.signal) ?? null,
          headersTimeout: this.options.headersTimeoutMs,
          bodyTimeout: this.options.idleTimeoutMs,
        });
      } catch (err) {
        if (err instanceof RemoteSourceError) throw err;
        throw permanentTransportError(err, { method, url, plainHttpHint: this.#plainHttpHint }) ?? err;
      }
      const status = response.statusCode;
      try {
        contentLength(response.headers, method, url);
      } catch (err) {
        discard(response.body);
        throw err;
      }
      if (status === 401 && authRetried && req.auth && url.origin === req.auth.origin) {
        const rejection = req.auth.rejected?.(headers.authorization);
        if (rejection) {
          discard(response.body);
          throw rejection;
        }
      }
      if (status === 401 && !authRetried && req.auth && url.origin === req.auth.origin) {
        authRetried = true;
        let retry: boolean;
        try {
          retry = await req.auth.unauthorized(
            header(response.headers, 'www-authenticate'),
            headers.authorization,
            req.signal,
          );
        } catch (err) {
          discard(response.body);
          throw err;
        }
        if (retry) {
          await drain(response.body);
          continue;
        }
        return { status, headers: response.headers, body: response.body, url };
      }
      const location = header(response.headers, 'location');
      const redirect = [301, 302, 303, 307, 308].includes(status) && location !== undefined;
      if (!redirect || req.followRedirects === false || (req.body && status !== 303)) {
        return { status, headers: response.headers, body: response.body, url };
      }
      await drain(response.body);
      hop++;
      if (hop > this.options.maxRedirects) {
        throw new RemoteSourceError(
          'REMOTE_TOO_MANY_REDIRECTS',
          `${req.method} ${redactUrl(req.url)}: more than ${this.options.maxRedirects} redirects (last to ${redactUrl(location)}); fix the server or raise maxRedirects`,
          { url: redactUrl(req.url), status },
        );
      }
      const next = redirectTarget(location, url, req.method, req.url);
      publish.redirect({
        from: redactUrl(url),
        to: redactUrl(next),
        status,
        droppedCredentials: next.origin !== origin,
      });
      if (status === 303 && method !== 'HEAD') method = 'GET';
      url = next;
    }
  }

  /** Idempotent: a source and its registry may both close the shared client. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.budget.dispose();
      await this.dispatcher.close();
    })();
    return this.#closing;
  }
}

/**
 * Where a redirect points: an absolute http(s) URL, or REMOTE_BAD_REDIRECT. `file:`, `data:` or
 * any other scheme from a server is refused outright: following it would read local files or
 * attacker-supplied bytes as if they came from the server, and retrying cannot help.
 */
function redirectTarget(location: string, from: URL, method: string, original: URL): URL {
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    throw new RemoteSourceError(
      'REMOTE_BAD_REDIRECT',
      `${method} ${redactUrl(original)}: ${redactUrl(from)} redirected to '${location.slice(0, 200)}', which is not a URL; fix the server`,
      { url: redactUrl(original) },
    );
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new RemoteSourceError(
      'REMOTE_BAD_REDIRECT',
      `${method} ${redactUrl(original)}: ${redactUrl(from)} redirected to a ${next.protocol} URL (${location.slice(0, 80)}); only http(s) redirects are followed: the server is misconfigured or hostile`,
      { url: redactUrl(original) },
    );
  }
  return next;
}
