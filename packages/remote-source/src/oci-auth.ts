import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { publish } from './diagnostics.ts';
import { RemoteSourceError, redactUrl } from './errors.ts';
import type { AuthProvider, HttpClient, SendResponse } from './http-client.ts';

/** Registry credentials: user/password (Basic, or for the token realm), a ready Bearer token, or an identity (refresh) token. */
export type RegistryCredentials =
  | { username: string; password: string }
  | { bearer: string }
  | { identityToken: string; username?: string };

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

function registryKey(key: string): string {
  const host = key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return ['index.docker.io', 'registry-1.docker.io', 'docker.io'].includes(host) ? 'docker.io' : host;
}

/**
 * Credentials for `registry` from a Docker `config.json` (`auths.<host>.auth` = base64 user:pass,
 * `identitytoken`, `registrytoken`). `path` default: `$DOCKER_CONFIG/config.json` or
 * `~/.docker/config.json`. Credential helpers (`credsStore`, `credHelpers`) are not run.
 */
export async function loadDockerCredentials(
  registry: string,
  path?: string,
): Promise<RegistryCredentials | undefined> {
  const file = path ?? join(process.env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && path === undefined) return undefined;
    throw new RemoteSourceError(
      'REMOTE_CONFIG',
      `cannot read Docker config ${file}: ${(err as Error).message}`,
      { url: file, cause: err },
    );
  }
  let config: {
    auths?: Record<
      string,
      { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string }
    >;
  };
  try {
    config = JSON.parse(text);
  } catch (err) {
    throw new RemoteSourceError(
      'REMOTE_CONFIG',
      `Docker config ${file} is not valid JSON: ${(err as Error).message}`,
      { url: file, cause: err },
    );
  }
  const wanted = registryKey(registry);
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (registryKey(key) !== wanted) continue;
    if (entry.registrytoken) return { bearer: entry.registrytoken };
    let username = entry.username;
    let password = entry.password;
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      username = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    }
    if (entry.identitytoken) return { identityToken: entry.identitytoken, ...(username ? { username } : {}) };
    if (username !== undefined && password !== undefined) return { username, password };
  }
  return undefined;
}

/**
 * Registry authentication, lazily: requests go out anonymously (open registries need nothing),
 * and a 401 decides: a Bearer challenge fetches a token for our scope from the realm (with the
 * credentials if any, anonymously otherwise); a Basic challenge uses the credentials. A later 401
 * (expired token) fetches a new token once per request.
 */
export class RegistryAuth implements AuthProvider {
  readonly origin: string;
  readonly #client: HttpClient;
  readonly #registry: string;
  readonly #scope: string;
  readonly #credentials: RegistryCredentials | undefined;
  #authorization: string | undefined;
  #pending: Promise<boolean> | undefined;

  constructor(
    client: HttpClient,
    origin: string,
    registry: string,
    scope: string,
    credentials: RegistryCredentials | undefined,
  ) {
    this.#client = client;
    this.origin = origin;
    this.#registry = registry;
    this.#scope = scope;
    this.#credentials = credentials;
    if (credentials && 'bearer' in credentials) {
      this.#authorization = `Bearer ${credentials.bearer}`;
      publish.auth({ registry, scheme: 'bearer', scope: undefined });
    }
  }

  async authorization(): Promise<string | undefined> {
    return this.#authorization;
  }

  unauthorized(challenge: string | undefined, signal?: AbortSignal): Promise<boolean> {
    const failed = this.#authorization;
    this.#pending ??= this.#renew(challenge, failed, signal).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
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
          `asks for Basic credentials and none were given: pass credentials or log in (docker config.json)`,
          401,
        );
      }
      const basic = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
      if (failed === basic) return false;
      this.#authorization = basic;
      publish.auth({ registry: this.#registry, scheme: 'basic', scope: undefined });
      return true;
    }
    if (challenge?.scheme !== 'bearer' || !challenge.params.realm) {
      if (credentials && 'bearer' in credentials) return false;
      throw this.#error(`answered 401 without a usable challenge (${value ?? 'no WWW-Authenticate'})`, 401);
    }
    const realm = new URL(challenge.params.realm);
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
    const text = await response.body.text();
    if (response.status !== 200) {
      throw this.#error(
        `token service ${redactUrl(realm)} answered HTTP ${response.status} for scope ${scope}: ${text.slice(0, 200)}; check the credentials`,
        response.status,
      );
    }
    let token: string | undefined;
    try {
      const json = JSON.parse(text) as { token?: string; access_token?: string };
      token = json.token ?? json.access_token;
    } catch {
      token = undefined;
    }
    if (!token) throw this.#error(`token service ${redactUrl(realm)} returned no token`, response.status);
    const next = `Bearer ${token}`;
    this.#authorization = next;
    publish.auth({
      registry: this.#registry,
      scheme: refresh ? 'refresh' : credentials ? 'credential-token' : 'anonymous-token',
      scope,
    });
    return next !== failed;
  }

  #error(what: string, status: number): RemoteSourceError {
    return new RemoteSourceError('REMOTE_OCI_AUTH', `registry ${this.#registry} ${what}`, {
      url: this.#registry,
      status,
    });
  }
}
