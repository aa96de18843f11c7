import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { drain } from './body-limit.ts';
import { RemoteSourceError } from './errors.ts';
import { header, type SendResponse } from './http-client.ts';
import {
  ANNOTATION_TITLE,
  ARTIFACT_TYPE_COSI,
  type ImageManifest,
  MEDIA_COSI_LAYER,
  MEDIA_OCI_EMPTY,
  MEDIA_OCI_MANIFEST,
} from './media-types.ts';
import { formatOciReference, parseOciReference } from './oci-reference.ts';
import { type OciOptions, OciRegistry } from './oci-registry.ts';
import { describeError } from './retry.ts';

export interface PushOptions extends OciOptions {
  /** Manifest annotations (e.g. `org.opencontainers.image.source`). `created` is added. */
  annotations?: Record<string, string>;
  /** Layer title annotation. Default: the file's base name. */
  title?: string;
}

export interface PushResult {
  /** `registry/repository:tag@sha256:…` of what was pushed. */
  reference: string;
  /** Digest of the image manifest (pull by digest with `oci://registry/repo@<digest>`). */
  digest: string;
  /** Digest and size of the layer (the COSI file bytes). */
  layerDigest: string;
  size: number;
  /** Whether the layer was already in the registry (not uploaded again). */
  layerExisted: boolean;
}

const EMPTY = Buffer.from('{}');

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }))
    hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Pushes a COSI file as a single-layer OCI artifact (image-spec v1.1): empty config, one layer of
 * media type `application/vnd.oci.image.layer.v1.tar` with the title annotation, and
 * `artifactType: application/vnd.microsoft.trident.cosi.v1`. The upload is monolithic
 * (POST, then one streamed PUT), so memory stays flat whatever the file size.
 */
export async function pushOci(file: string, url: string, options: PushOptions = {}): Promise<PushResult> {
  const ref = parseOciReference(url);
  if (ref.digest) {
    // The manifest digest depends on the upload (annotations carry a timestamp), so a digest can
    // never be the target: refuse before a single byte goes to the registry.
    throw new RemoteSourceError(
      'REMOTE_OCI_PUSH',
      `cannot push to ${url}: it names a digest (${ref.digest}), and a pushed manifest gets its own digest; push to a tag (oci://${formatOciReference({ ...ref, digest: undefined, tag: ref.tag ?? 'latest' })}), the digest is printed afterwards`,
      { url },
    );
  }
  let size: number;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new Error('not a regular file');
    size = info.size;
  } catch (err) {
    throw new RemoteSourceError('REMOTE_FILE', `cannot push ${file}: ${(err as Error).message}`, {
      url: file,
      cause: err,
    });
  }
  const registry = await OciRegistry.connect(ref, options, 'pull,push');
  try {
    const signal = options.signal;
    const layerDigest = await hashFile(file);
    const layerExisted = await uploadBlob(
      registry,
      layerDigest,
      size,
      () => createReadStream(file, { highWaterMark: 1024 * 1024 }),
      signal,
    );
    const configDigest = `sha256:${createHash('sha256').update(EMPTY).digest('hex')}`;
    await uploadBlob(registry, configDigest, EMPTY.length, () => EMPTY, signal);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MEDIA_OCI_MANIFEST,
      artifactType: ARTIFACT_TYPE_COSI,
      config: { mediaType: MEDIA_OCI_EMPTY, digest: configDigest, size: EMPTY.length },
      layers: [
        {
          mediaType: MEDIA_COSI_LAYER,
          digest: layerDigest,
          size,
          annotations: { [ANNOTATION_TITLE]: options.title ?? basename(file) },
        },
      ],
      annotations: { 'org.opencontainers.image.created': new Date().toISOString(), ...options.annotations },
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const target = ref.tag ?? digest;
    const response = await registry.send({
      method: 'PUT',
      url: registry.url(`manifests/${target}`),
      headers: { 'content-type': MEDIA_OCI_MANIFEST },
      body: () => bytes,
      signal,
    });
    if (response.status !== 201 && response.status !== 200)
      await registry.fail(response, 'PUT', `manifest ${target}`);
    await drain(response.body);
    return {
      reference: `${formatOciReference({ ...ref, digest: undefined })}@${digest}`,
      digest,
      layerDigest,
      size,
      layerExisted,
    };
  } finally {
    await registry.close();
  }
}

/** Uploads one blob unless the registry has it. Returns true when it already existed. */
async function uploadBlob(
  registry: OciRegistry,
  digest: string,
  size: number,
  body: () => Buffer | NodeJS.ReadableStream,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const head = await registry.send({ method: 'HEAD', url: registry.url(`blobs/${digest}`), signal });
  await drain(head.body);
  if (head.status === 200) return true;
  if (head.status !== 404) await registry.fail(head, 'HEAD', `blob ${digest}`);
  const start = await registry.send({
    method: 'POST',
    url: registry.url('blobs/uploads/'),
    headers: { 'content-length': '0' },
    signal,
    followRedirects: false,
  });
  if (start.status !== 202) await registry.fail(start, 'POST', 'start blob upload');
  await drain(start.body);
  const location = header(start.headers, 'location');
  if (!location) {
    throw new RemoteSourceError(
      'REMOTE_OCI_PUSH',
      `registry ${registry.ref.registry} started an upload without a Location header`,
      {
        url: registry.label,
        status: 202,
      },
    );
  }
  const target = new URL(location, registry.base);
  target.searchParams.set('digest', digest);
  let put: SendResponse;
  try {
    // One streamed attempt: a monolithic upload cannot resume, and a new POST is the caller's call.
    put = await registry.client.send({
      method: 'PUT',
      url: target,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: body as () => Buffer,
      signal,
      auth: registry.auth,
    });
  } catch (err) {
    if (err instanceof RemoteSourceError) throw err;
    const budget = registry.client.budget;
    if (signal?.aborted || budget.expired) throw budget.abortError(signal, registry.label);
    throw new RemoteSourceError(
      'REMOTE_OCI_PUSH',
      `uploading blob ${digest} (${size} bytes) to ${registry.ref.registry} failed: ${describeError(err)}; push again (blobs already uploaded are skipped)`,
      { url: registry.label, cause: err },
    );
  }
  if (put.status !== 201) await registry.fail(put, 'PUT', `blob ${digest} (${size} bytes)`);
  await drain(put.body);
  return false;
}
