import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RemoteSourceError } from './errors.ts';

/** Registry credentials: user/password (Basic, or for the token realm), a ready Bearer token, or an identity (refresh) token. */
export type RegistryCredentials =
  | { username: string; password: string }
  | { bearer: string }
  | { identityToken: string; username?: string };

/** What a Docker config says about one registry. */
export interface DockerConfigEntry {
  credentials: RegistryCredentials | undefined;
  /**
   * The credential helper the config names for this registry (`credHelpers.<host>`, else
   * `credsStore`) when it holds no usable inline credentials: `docker-credential-<helper>`.
   * This package never runs helpers (no subprocesses from a library); callers explain that.
   */
  helper: string | undefined;
  /** The file read, when there was one. */
  file: string | undefined;
}

interface DockerConfigFile {
  auths?: Record<
    string,
    { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string }
  >;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** `https://index.docker.io/v1/` and friends name docker.io; other keys are `host[:port]`. */
export function registryKey(key: string): string {
  const host = key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return ['index.docker.io', 'registry-1.docker.io', 'docker.io'].includes(host) ? 'docker.io' : host;
}

/**
 * Reads what a Docker `config.json` holds for `registry`: `auths.<host>.auth` (base64 user:pass),
 * `username`/`password`, `identitytoken`, `registrytoken`; and, when none of those is there, the
 * credential helper it would have used. `path` default: `$DOCKER_CONFIG/config.json` or
 * `~/.docker/config.json` (a missing default file is no error).
 */
export async function readDockerConfig(registry: string, path?: string): Promise<DockerConfigEntry> {
  const file = path ?? join(process.env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && path === undefined) {
      return { credentials: undefined, helper: undefined, file: undefined };
    }
    throw new RemoteSourceError(
      'REMOTE_CONFIG',
      `cannot read Docker config ${file}: ${(err as Error).message}`,
      { url: file, cause: err },
    );
  }
  let config: DockerConfigFile;
  try {
    config = JSON.parse(text);
  } catch (err) {
    throw new RemoteSourceError(
      'REMOTE_CONFIG',
      `Docker config ${file} is not valid JSON: ${(err as Error).message}`,
      { url: file, cause: err },
    );
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new RemoteSourceError('REMOTE_CONFIG', `Docker config ${file} is not a JSON object`, { url: file });
  }
  const wanted = registryKey(registry);
  const credentials = inlineCredentials(config, wanted);
  if (credentials) return { credentials, helper: undefined, file };
  const helpers = typeof config.credHelpers === 'object' && config.credHelpers ? config.credHelpers : {};
  const named = Object.entries(helpers).find(([key]) => registryKey(key) === wanted)?.[1];
  const helper =
    typeof named === 'string' ? named : typeof config.credsStore === 'string' ? config.credsStore : undefined;
  return { credentials: undefined, helper: helper || undefined, file };
}

function inlineCredentials(config: DockerConfigFile, wanted: string): RegistryCredentials | undefined {
  const auths = typeof config.auths === 'object' && config.auths ? config.auths : {};
  for (const [key, entry] of Object.entries(auths)) {
    if (registryKey(key) !== wanted || typeof entry !== 'object' || entry === null) continue;
    if (typeof entry.registrytoken === 'string' && entry.registrytoken)
      return { bearer: entry.registrytoken };
    let username = typeof entry.username === 'string' ? entry.username : undefined;
    let password = typeof entry.password === 'string' ? entry.password : undefined;
    if (typeof entry.auth === 'string' && entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon >= 0) {
        username = decoded.slice(0, colon);
        password = decoded.slice(colon + 1);
      }
    }
    if (typeof entry.identitytoken === 'string' && entry.identitytoken)
      return { identityToken: entry.identitytoken, ...(username ? { username } : {}) };
    if (username !== undefined && password !== undefined) return { username, password };
  }
  return undefined;
}

/**
 * Credentials for `registry` from a Docker config (see `readDockerConfig`); undefined when it has
 * none. Credential helpers (`credsStore`, `credHelpers`) are not run.
 */
export async function loadDockerCredentials(
  registry: string,
  path?: string,
): Promise<RegistryCredentials | undefined> {
  return (await readDockerConfig(registry, path)).credentials;
}

/** The sentence that explains an unrun credential helper and what to do instead. */
export function helperAdvice(
  entry: { helper: string | undefined; file: string | undefined },
  registry: string,
): string {
  if (!entry.helper) return '';
  return (
    ` ${entry.file ?? 'The Docker config'} leaves ${registry}'s credentials to the credential helper ` +
    `docker-credential-${entry.helper} (credsStore/credHelpers), and trident does not run credential helpers: ` +
    `pass --username with --password-stdin or TRIDENT_REGISTRY_PASSWORD (the credentials option), or point ` +
    `DOCKER_CONFIG at a config.json with an "auths" entry for ${registry}.`
  );
}
