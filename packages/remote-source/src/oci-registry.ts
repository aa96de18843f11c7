import { createHash } from 'node:crypto';
import { DEFAULT_MAX_MANIFEST_BYTES, drain, errorSnippet, readLimited } from './body-limit.ts';
import { readDockerConfig } from './docker-config.ts';
import { RemoteSourceError, statusError } from './errors.ts';
import { HttpClient, header, type SendRequest, type SendResponse } from './http-client.ts';
import { RegistryAuth, type RegistryCredentials } from './oci-auth.ts';
import { formatOciReference, isLoopbackRegistry, type OciReference } from './oci-reference.ts';
import type { Platform } from './platform.ts';
import { isRetryableStatus, parseRetryAfter, TransientFailure } from './retry.ts';
import { RetryState } from './retry-state.ts';
import type { HttpOptions } from './types.ts';

export interface OciOptions extends HttpOptions {
  /** Credentials for the registry; default: from the Docker config file. */
  credentials?: RegistryCredentials;
  /** Docker config.json path, or false to ignore it. Default `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`. */
  dockerConfig?: string | false;
  /** Speak plain HTTP to the registry. Default: true for loopback registries (localhost, 127.x), else HTTPS. */
  plainHttp?: boolean;
  /** Platform to pick from an index (normalised like containerd). Default: the host's (`linux`/`amd64`...). */
  platform?: Platform;
  /** Largest manifest, index or token response read from the registry. Default 4 MiB. */
  maxManifestBytes?: number;
  signal?: AbortSignal | undefined;
}

/** A manifest or index as fetched: bytes verified against the digest, JSON parsed. */
export interface FetchedDocument {
  mediaType: string;
  digest: string;
  bytes: Buffer;
  json: unknown;
}

/** A registry connection for one repository: base URL, auth, and JSON-safe requests with retries. */
export class OciRegistry {
  readonly ref: OciReference;
  readonly client: HttpClient;
  readonly base: string;
  readonly auth: RegistryAuth;
  readonly label: string;
  readonly maxManifestBytes: number;
  closed = false;

  private constructor(
    ref: OciReference,
    client: HttpClient,
    base: string,
    auth: RegistryAuth,
    maxManifestBytes: number,
  ) {
    this.ref = ref;
    this.client = client;
    this.base = base;
    this.auth = auth;
    this.label = `oci://${formatOciReference(ref)}`;
    this.maxManifestBytes = maxManifestBytes;
  }

  static async connect(
    ref: OciReference,
    options: OciOptions,
    actions: 'pull' | 'pull,push',
  ): Promise<OciRegistry> {
    const plain = options.plainHttp ?? isLoopbackRegistry(ref.apiHost);
    const base = `${plain ? 'http' : 'https'}://${ref.apiHost}`;
    const config =
      options.credentials !== undefined || options.dockerConfig === false
        ? undefined
        : await readDockerConfig(ref.registry, options.dockerConfig);
    const credentials = options.credentials ?? config?.credentials;
    const maxManifestBytes = options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
    if (!Number.isSafeInteger(maxManifestBytes) || maxManifestBytes <= 0) {
      throw new RemoteSourceError(
        'REMOTE_INVALID_OPTION',
        `option maxManifestBytes must be a positive whole number of bytes, not ${maxManifestBytes}`,
      );
    }
    const client = new HttpClient(options, {
      label: `oci://${formatOciReference(ref)}`,
      plainHttpHint: `if ${ref.registry} is a plain-HTTP registry, pass --plain-http (option plainHttp: true)`,
    });
    const auth = new RegistryAuth(
      client,
      new URL(base).origin,
      ref.registry,
      `repository:${ref.repository}:${actions}`,
      credentials,
      { dockerConfig: config, maxTokenBytes: maxManifestBytes },
    );
    return new OciRegistry(ref, client, base, auth, maxManifestBytes);
  }

  url(path: string): URL {
    return new URL(`${this.base}/v2/${this.ref.repository}/${path}`);
  }

  /** Sends with the registry auth; retries 5xx/429 and transport errors within the source's budget. */
  async send(req: Omit<SendRequest, 'auth'>): Promise<SendResponse> {
    const retry = new RetryState(this, req.method, req.signal, () => undefined);
    for (;;) {
      retry.check();
      let response: SendResponse;
      try {
        response = await this.client.send({ ...req, auth: this.auth });
      } catch (err) {
        await retry.fail(err);
        continue;
      }
      if (!isRetryableStatus(response.status)) return response;
      const retryAfterMs = parseRetryAfter(header(response.headers, 'retry-after'));
      const detail = await errorSnippet(response.body);
      await retry.fail(
        new TransientFailure(
          `${req.method} ${response.url.href}: HTTP ${response.status}${detail ? ` (${detail.slice(0, 200)})` : ''}`,
          { status: response.status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
        ),
      );
    }
  }

  /** A final error for an unexpected status, OCI flavoured for 401/403. Reads at most 4 KiB of the body. */
  async fail(response: SendResponse, method: string, what: string): Promise<never> {
    const body = await errorSnippet(response.body);
    const detail = body ? ` Registry said: ${body.slice(0, 300)}` : '';
    if (response.status === 401 || response.status === 403) {
      const who = this.auth.identity;
      throw new RemoteSourceError(
        'REMOTE_OCI_AUTH',
        `${method} ${response.url.href} (${what}) failed with HTTP ${response.status}: access to ${this.ref.repository} on ${this.ref.registry} denied` +
          (who
            ? ` for ${who}; check that it has the needed (pull/push) rights.`
            : `; the repository needs credentials.${this.auth.advice}`) +
          detail,
        { url: response.url.href, status: response.status },
      );
    }
    throw statusError(response.status, method, response.url, `(${what})${detail}`);
  }

  /**
   * GETs a manifest or index by tag or digest: at most `maxManifestBytes`, retried within the
   * source's budget (a stalled or trickling body included), its digest checked when the reference
   * is a digest or the registry announces one, and its JSON parsed. `probe`: one attempt per
   * status, and anything but 200 and auth failures means "not a manifest" (distribution 2.8 answers
   * 500 when a blob digest is asked for as a manifest).
   */
  async manifest(
    reference: string,
    accept: string[],
    signal?: AbortSignal,
    probe = false,
  ): Promise<FetchedDocument | undefined> {
    const url = this.url(`manifests/${reference}`);
    const request = { method: 'GET' as const, url, headers: { accept: accept.join(', ') }, signal };
    const retry = new RetryState(this, `GET manifest ${reference} of`, signal, () => undefined);
    let response: SendResponse;
    let bytes: Buffer;
    for (;;) {
      retry.check();
      try {
        response = probe ? await this.client.send({ ...request, auth: this.auth }) : await this.send(request);
      } catch (err) {
        await retry.fail(err);
        continue;
      }
      if (
        response.status === 404 ||
        (probe && response.status !== 200 && response.status !== 401 && response.status !== 403)
      ) {
        await drain(response.body);
        return undefined;
      }
      if (response.status !== 200) await this.fail(response, 'GET', `manifest ${reference}`);
      try {
        bytes = await readLimited(response.body, response.headers, {
          limit: this.maxManifestBytes,
          limitName: 'maxManifestBytes',
          what: `manifest ${reference}`,
          url,
          throughput: this.client.options.throughput,
        });
        break;
      } catch (err) {
        await retry.fail(err);
      }
    }
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
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw new RemoteSourceError(
        'REMOTE_OCI_MANIFEST',
        `manifest ${reference} of ${this.label} is not JSON: ${(err as Error).message}`,
        { url: this.label, cause: err },
      );
    }
    const declared = (json as { mediaType?: unknown } | null)?.mediaType;
    const mediaType =
      typeof declared === 'string' && declared
        ? declared
        : (header(response.headers, 'content-type')?.split(';')[0]?.trim() ?? '');
    return { mediaType, digest, bytes, json };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client.close();
  }
}
