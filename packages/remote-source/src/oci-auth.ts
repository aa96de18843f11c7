import { errorSnippet, readLimited } from './body-limit.ts';
import { publish } from './diagnostics.ts';
import { type DockerConfigEntry, helperAdvice, type RegistryCredentials } from './docker-config.ts';
import { RemoteSourceError, redactUrl } from './errors.ts';
import type { AuthProvider, HttpClient, SendResponse } from './http-client.ts';

export type { RegistryCredentials } from './docker-config.ts';

export interface RegistryAuthOptions {
  /** Where the credentials came from when they did not come from the caller, and any unrun helper. */
  dockerConfig?: Pick<DockerConfigEntry, 'helper' | 'file'> | undefined;
  /** Cap on a token response. */
  maxTokenBytes: number;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a `WWW-Authenticate` header (one challenge; RFC 9110 §11.6.1 auth-params). */
export function parseChallenge(value: string | undefined): Challenge | undefined {
  if (!value) return undefined;
  const match = /^\s*([A-Za-z][\w-]*)\s*(.*)$/.exec(value);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
  for (let m = re.exec(match[2] ?? ''); m; m = re.exec(match[2] ?? '')) {
    params[m[1]!.toLowerCase()] = (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme: match[1]!.toLowerCase(), params };
}

/**
 * Registry authentication, lazily: requests go out anonymously (open registries need nothing),
 * and a 401 decides: a Bearer challenge fetches a token for our scope from the realm (with the
 * credentials if any, anonymously otherwise); a Basic challenge uses the credentials. A later 401
 * (expired token) fetches a new token once per request. Credentials the registry or its token
 * service refuses end in REMOTE_OCI_CREDENTIALS_REJECTED, never in a retry or a generic 401.
 */
export class RegistryAuth implements AuthProvider {
  readonly origin: string;
  readonly #client: HttpClient;
  readonly #registry: string;
  readonly #scope: string;
  readonly #credentials: RegistryCredentials | undefined;
  readonly #options: RegistryAuthOptions;
  #authorization: string | undefined;
  #pending: Promise<boolean> | undefined;

  constructor(
    client: HttpClient,
    origin: string,
    registry: string,
    scope: string,
    credentials: RegistryCredentials | undefined,
    options: RegistryAuthOptions,
  ) {
    this.#client = client;
    this.origin = origin;
    this.#registry = registry;
    this.#scope = scope;
    this.#credentials = credentials;
    this.#options = options;
    if (credentials && 'bearer' in credentials) {
      this.#authorization = `Bearer ${credentials.bearer}`;
      publish.auth({ registry, scheme: 'bearer', scope: undefined });
    }
  }

  /** Who we authenticate as, for messages: `user 'ci'`, `an identity token`, `a bearer token`, or undefined. */
  get identity(): string | undefined {
    const credentials = this.#credentials;
    if (!credentials) return undefined;
    if ('password' in credentials) return `user '${credentials.username}'`;
    if ('identityToken' in credentials)
      return credentials.username ? `user '${credentials.username}' (identity token)` : 'an identity token';
    return 'a bearer token';
  }

  /** What to do about missing credentials: log in, or why the configured helper did not help. */
  get advice(): string {
    const helper = helperAdvice(
      this.#options.dockerConfig ?? { helper: undefined, file: undefined },
      this.#registry,
    );
    return helper || ' Supply credentials: --username with --password-stdin, or docker config.json.';
  }

  async authorization(): Promise<string | undefined> {
    return this.#authorization;
  }

  unauthorized(
    challenge: string | undefined,
    sent: string | undefined,
    signal?: AbortSignal,
  ): Promise<boolean> {
    // Another request renewed since this one was sent: just send it again with the new credentials.
    if (this.#authorization !== undefined && this.#authorization !== sent) return Promise.resolve(true);
    const failed = sent;
    this.#pending ??= this.#renew(challenge, failed, signal).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  rejected(sent: string | undefined): RemoteSourceError | undefined {
    const credentials = this.#credentials;
    if (!credentials || sent === undefined) return undefined;
    // Basic credentials, or a caller's own bearer token, answered with 401: they are wrong. A token
    // we obtained for them and then refused means missing rights instead (REMOTE_OCI_AUTH).
    if ('password' in credentials && sent.startsWith('Basic '))
      return this.#rejected('the registry answered 401 to them', 401);
    if ('bearer' in credentials && sent === `Bearer ${credentials.bearer}`)
      return this.#rejected('the registry answered 401 to it', 401);
    return undefined;
  }

  async #renew(
    value: string | undefined,
    failed: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    const challenge = parseChallenge(value);
    const credentials = this.#credentials;
    if (challenge?.scheme === 'basic') {
      if (!credentials || !('password' in credentials)) {
        throw this.#error(
          `asks for a username and password (HTTP 401, Basic) and none were given.${this.advice}`,
          401,
        );
      }
      const basic = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
      if (failed === basic) throw this.#rejected(`the registry answered 401 to them`, 401);
      this.#authorization = basic;
      publish.auth({ registry: this.#registry, scheme: 'basic', scope: undefined });
      return true;
    }
    if (challenge?.scheme !== 'bearer' || !challenge.params.realm) {
      if (credentials && 'bearer' in credentials)
        throw this.#rejected('the registry answered 401 to it', 401);
      throw this.#error(`answered 401 without a usable challenge (${value ?? 'no WWW-Authenticate'})`, 401);
    }
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm);
      if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new Error('not http(s)');
    } catch {
      throw this.#error(
        `named a token realm '${challenge.params.realm.slice(0, 200)}' that is not an http(s) URL`,
        401,
      );
    }
    const scope = this.#scope;
    const service = challenge.params.service;
    const refresh = failed?.startsWith('Bearer ') === true;
    let response: SendResponse;
    if (credentials && 'identityToken' in credentials) {
      // OAuth2 refresh-token grant (distribution token spec "oauth.md").
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: credentials.identityToken,
        client_id: 'trident',
        scope,
      });
      if (service) form.set('service', service);
      response = await this.#client.send({
        method: 'POST',
        url: realm,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: () => form.toString(),
        signal,
      });
    } else {
      if (service) realm.searchParams.set('service', service);
      realm.searchParams.set('scope', scope);
      const headers: Record<string, string> = {};
      if (credentials && 'password' in credentials) {
        headers.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
      }
      response = await this.#client.send({ method: 'GET', url: realm, headers, signal });
    }
    if (response.status !== 200) {
      const detail = await errorSnippet(response.body);
      const said = detail ? ` (${detail.slice(0, 200)})` : '';
      if ((response.status === 401 || response.status === 403) && credentials) {
        throw this.#rejected(
          `token service ${redactUrl(realm)} answered HTTP ${response.status}${said}`,
          response.status,
        );
      }
      throw this.#error(
        `token service ${redactUrl(realm)} answered HTTP ${response.status} for scope ${scope}${said}.${credentials ? '' : this.advice}`,
        response.status,
      );
    }
    const text = (
      await readLimited(response.body, response.headers, {
        limit: this.#options.maxTokenBytes,
        limitName: 'maxManifestBytes',
        what: 'token response',
        url: realm,
        throughput: this.#client.options.throughput,
      })
    ).toString('utf8');
    let token: unknown;
    try {
      const json = JSON.parse(text) as { token?: unknown; access_token?: unknown } | null;
      token = json?.token ?? json?.access_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== 'string' || !token) {
      throw this.#error(
        `token service ${redactUrl(realm)} returned no token (no string "token" or "access_token")`,
        200,
      );
    }
    const next = `Bearer ${token}`;
    this.#authorization = next;
    publish.auth({
      registry: this.#registry,
      scheme: refresh ? 'refresh' : credentials ? 'credential-token' : 'anonymous-token',
      scope,
    });
    return next !== failed;
  }

  #rejected(what: string, status: number): RemoteSourceError {
    return new RemoteSourceError(
      'REMOTE_OCI_CREDENTIALS_REJECTED',
      `registry ${this.#registry} rejected the credentials of ${this.identity ?? 'the caller'}: ${what}; check the username and password (or token) for ${this.#registry}`,
      { url: this.#registry, status },
    );
  }

  #error(what: string, status: number): RemoteSourceError {
    return new RemoteSourceError('REMOTE_OCI_AUTH', `registry ${this.#registry} ${what}`, {
      url: this.#registry,
      status,
    });
  }
}
