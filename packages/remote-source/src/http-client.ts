import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { type Dispatcher, EnvHttpProxyAgent, request } from 'undici';
import { publish } from './diagnostics.ts';
import { RemoteSourceError, redactUrl } from './errors.ts';
import { type ResolvedRetry, resolveRetry } from './retry.ts';
import type { HttpOptions } from './types.ts';

/** Supplies credentials for one origin, and refreshes them on a 401 (OCI registries). */
export interface AuthProvider {
  /** `scheme://host:port` the credentials belong to; never sent anywhere else. */
  readonly origin: string;
  authorization(signal?: AbortSignal): Promise<string | undefined>;
  /** Called on a 401 from `origin`; true when retrying with new credentials is worthwhile. */
  unauthorized(challenge: string | undefined, signal?: AbortSignal): Promise<boolean>;
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
}

// Credentials ride only to the origin they were given for (reqwest drops them on host or port
// change; fetch drops Authorization cross-origin). Other extra headers follow redirects.
const SENSITIVE = new Set(['authorization', 'cookie', 'proxy-authorization']);

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * One undici dispatcher (keep-alive pool, proxy from the environment or options, extra CA) and a
 * `send` that follows redirects itself, so the final location can be cached by callers and
 * credentials never leave their origin.
 */
export class HttpClient {
  readonly dispatcher: Dispatcher;
  readonly options: ResolvedHttpOptions;

  constructor(options: HttpOptions = {}) {
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
    };
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
      const response = await request(url, {
        method,
        headers,
        body: req.body?.() ?? null,
        signal: req.signal ?? null,
        dispatcher: this.dispatcher,
        headersTimeout: this.options.headersTimeoutMs,
        bodyTimeout: this.options.idleTimeoutMs,
      });
      const status = response.statusCode;
      if (status === 401 && !authRetried && req.auth && url.origin === req.auth.origin) {
        authRetried = true;
        if (await req.auth.unauthorized(header(response.headers, 'www-authenticate'), req.signal)) {
          await response.body.dump();
          continue;
        }
        return { status, headers: response.headers, body: response.body, url };
      }
      const location = header(response.headers, 'location');
      const redirect = [301, 302, 303, 307, 308].includes(status) && location !== undefined;
      if (!redirect || req.followRedirects === false || (req.body && status !== 303)) {
        return { status, headers: response.headers, body: response.body, url };
      }
      await response.body.dump();
      hop++;
      if (hop > this.options.maxRedirects) {
        throw new RemoteSourceError(
          'REMOTE_TOO_MANY_REDIRECTS',
          `${req.method} ${redactUrl(req.url)}: more than ${this.options.maxRedirects} redirects (last to ${redactUrl(location)}); fix the server or raise maxRedirects`,
          { url: redactUrl(req.url), status },
        );
      }
      const next = new URL(location, url);
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

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

/** Drops a response body we will not read, without an unhandled 'error' from undici's abort. */
export function discard(body: Dispatcher.ResponseData['body']): void {
  if (body.destroyed) return;
  body.on('error', () => undefined);
  body.destroy();
}
