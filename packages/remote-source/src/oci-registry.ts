import { createHash } from 'node:crypto';
import { RemoteSourceError, statusError } from './errors.ts';
import { type AuthProvider, HttpClient, header, type SendRequest, type SendResponse } from './http-client.ts';
import { loadDockerCredentials, RegistryAuth, type RegistryCredentials } from './oci-auth.ts';
import { formatOciReference, isLoopbackRegistry, type OciReference } from './oci-reference.ts';
import { backoffDelay, isRetryableStatus, parseRetryAfter, sleep } from './retry.ts';
import type { HttpOptions } from './types.ts';

export interface OciOptions extends HttpOptions {
  /** Credentials for the registry; default: from the Docker config file. */
  credentials?: RegistryCredentials;
  /** Docker config.json path, or false to ignore it. Default `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`. */
  dockerConfig?: string | false;
  /** Speak plain HTTP to the registry. Default: true for loopback registries (localhost, 127.x), else HTTPS. */
  plainHttp?: boolean;
  /** Platform to pick from an index. Default: the host's (`linux`/`amd64`...). */
  platform?: { os: string; architecture: string; variant?: string };
  signal?: AbortSignal | undefined;
}

/** A registry connection for one repository: base URL, auth, and JSON-safe requests with retries. */
export class OciRegistry {
  readonly ref: OciReference;
  readonly client: HttpClient;
  readonly base: string;
  readonly auth: AuthProvider;
  readonly label: string;

  private constructor(ref: OciReference, client: HttpClient, base: string, auth: AuthProvider) {
    this.ref = ref;
    this.client = client;
    this.base = base;
    this.auth = auth;
    this.label = `oci://${formatOciReference(ref)}`;
  }

  static async connect(
    ref: OciReference,
    options: OciOptions,
    actions: 'pull' | 'pull,push',
  ): Promise<OciRegistry> {
    const plain = options.plainHttp ?? isLoopbackRegistry(ref.apiHost);
    const base = `${plain ? 'http' : 'https'}://${ref.apiHost}`;
    const credentials =
      options.credentials ??
      (options.dockerConfig === false
        ? undefined
        : await loadDockerCredentials(ref.registry, options.dockerConfig));
    const client = new HttpClient(options);
    const auth = new RegistryAuth(
      client,
      new URL(base).origin,
      ref.registry,
      `repository:${ref.repository}:${actions}`,
      credentials,
    );
    return new OciRegistry(ref, client, base, auth);
  }

  url(path: string): URL {
    return new URL(`${this.base}/v2/${this.ref.repository}/${path}`);
  }

  /** Sends with the registry auth; retries 5xx/429 and transport errors within the retry budget. */
  async send(req: Omit<SendRequest, 'auth'>): Promise<SendResponse> {
    const retry = this.client.options.retry;
    for (let failure = 1; ; failure++) {
      let delay: number;
      try {
        const response = await this.client.send({ ...req, auth: this.auth });
        if (!isRetryableStatus(response.status) || failure > retry.attempts) return response;
        await response.body.dump();
        delay = Math.max(
          backoffDelay(failure, retry),
          Math.min(retry.maxDelayMs, parseRetryAfter(header(response.headers, 'retry-after')) ?? 0),
        );
      } catch (err) {
        if (err instanceof RemoteSourceError || req.signal?.aborted || failure > retry.attempts) {
          if (err instanceof RemoteSourceError) throw err;
          throw new RemoteSourceError(
            'REMOTE_RETRIES_EXHAUSTED',
            `${req.method} ${req.url.href} failed: ${(err as Error).message}; is the registry ${this.ref.registry} reachable?`,
            {
              url: req.url.href,
              cause: err,
            },
          );
        }
        delay = backoffDelay(failure, retry);
      }
      await sleep(delay, req.signal, this.label);
    }
  }

  /** A final error for an unexpected status, OCI flavoured for 401/403. */
  async fail(response: SendResponse, method: string, what: string): Promise<never> {
    const body = await response.body.text().catch(() => '');
    const detail = body ? ` Registry said: ${body.slice(0, 300).trim()}` : '';
    if (response.status === 401 || response.status === 403) {
      throw new RemoteSourceError(
        'REMOTE_OCI_AUTH',
        `${method} ${response.url.href} (${what}) failed with HTTP ${response.status}: access to ${this.ref.repository} on ${this.ref.registry} denied; supply credentials (options or docker config.json) with the needed rights.${detail}`,
        { url: response.url.href, status: response.status },
      );
    }
    throw statusError(response.status, method, response.url, `(${what})${detail}`);
  }

  /** GETs a manifest or index by tag or digest, verifying a digest reference against the bytes. */
  async manifest(
    reference: string,
    accept: string[],
    signal?: AbortSignal,
    probe = false,
  ): Promise<{ mediaType: string; digest: string; bytes: Buffer } | undefined> {
    const request = {
      method: 'GET' as const,
      url: this.url(`manifests/${reference}`),
      headers: { accept: accept.join(', ') },
      signal,
    };
    // `probe`: one attempt, any failure but auth answered "not a manifest" (distribution 2.8
    // answers 500 when a blob digest is asked for as a manifest).
    const response = probe
      ? await this.client.send({ ...request, auth: this.auth })
      : await this.send(request);
    if (
      response.status === 404 ||
      (probe && response.status !== 200 && response.status !== 401 && response.status !== 403)
    ) {
      await response.body.dump();
      return undefined;
    }
    if (response.status !== 200) await this.fail(response, 'GET', `manifest ${reference}`);
    const bytes = Buffer.from(await response.body.arrayBuffer());
    const algorithm = reference.includes(':') ? reference.split(':')[0]! : 'sha256';
    const digest = `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
    const announced = header(response.headers, 'docker-content-digest');
    if (
      (reference.includes(':') && digest !== reference) ||
      (announced?.startsWith(`${algorithm}:`) && announced !== digest)
    ) {
      throw new RemoteSourceError(
        'REMOTE_DIGEST_MISMATCH',
        `manifest ${reference} of ${this.label} hashes to ${digest}${announced ? ` (registry announced ${announced})` : ''}; the registry served different bytes`,
        { url: this.label },
      );
    }
    let mediaType = header(response.headers, 'content-type')?.split(';')[0]?.trim() ?? '';
    try {
      const parsed = JSON.parse(bytes.toString('utf8')) as { mediaType?: string };
      if (parsed.mediaType) mediaType = parsed.mediaType;
    } catch (err) {
      throw new RemoteSourceError(
        'REMOTE_OCI_MANIFEST',
        `manifest ${reference} of ${this.label} is not JSON: ${(err as Error).message}`,
        {
          url: this.label,
          cause: err,
        },
      );
    }
    return { mediaType, digest, bytes };
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
