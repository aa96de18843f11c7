import { publish } from './diagnostics.ts';
import { RemoteSourceError } from './errors.ts';
import {
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  MANIFEST_ACCEPT,
  MEDIA_DOCKER_LIST,
  MEDIA_DOCKER_MANIFEST,
  MEDIA_OCI_INDEX,
  MEDIA_OCI_MANIFEST,
} from './media-types.ts';
import type { OciRegistry } from './oci-registry.ts';

/** Go-style platform of this host (`linux`/`amd64`), as image indexes name platforms. */
export function hostPlatform(): { os: string; architecture: string; variant?: string } {
  const arch: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
  };
  return {
    os: process.platform === 'win32' ? 'windows' : process.platform,
    architecture: arch[process.arch] ?? process.arch,
  };
}

export interface ResolvedBlob {
  /** The single layer: the COSI file. */
  layer: Descriptor;
  /** Digest of the image manifest that lists it (undefined when the reference named the blob). */
  manifestDigest: string | undefined;
  artifactType: string | undefined;
}

/**
 * Tag or digest -> manifest (through an index by platform) -> its one layer. A digest reference
 * names a manifest or index and is resolved like a tag; for compatibility with Trident, a digest
 * that names a blob directly is accepted too (with a warning), never a manifest read as the blob.
 */
export async function resolveOciBlob(
  registry: OciRegistry,
  platform: { os: string; architecture: string; variant?: string },
  signal?: AbortSignal,
): Promise<ResolvedBlob> {
  const ref = registry.ref;
  const reference = ref.digest ?? ref.tag!;
  let manifest = await registry.manifest(reference, MANIFEST_ACCEPT, signal, ref.digest !== undefined);
  if (!manifest && ref.digest) {
    const head = await registry.send({ method: 'HEAD', url: registry.url(`blobs/${ref.digest}`), signal });
    await head.body.dump();
    if (head.status === 200) {
      publish.warning({
        url: registry.label,
        code: 'BLOB_DIGEST_REFERENCE',
        message: `${ref.digest} is a blob, not a manifest: reading it directly (layer rules not checked)`,
      });
      const size = Number(head.headers['content-length']);
      return {
        layer: { mediaType: 'application/octet-stream', digest: ref.digest, size },
        manifestDigest: undefined,
        artifactType: undefined,
      };
    }
    manifest = await registry.manifest(reference, MANIFEST_ACCEPT, signal);
  }
  if (!manifest) {
    throw new RemoteSourceError(
      'REMOTE_NOT_FOUND',
      `${registry.label}: ${ref.digest ? `digest ${ref.digest}` : `tag '${ref.tag}'`} not found in repository ${ref.repository} on ${ref.registry} (HTTP 404); check the reference or push it first`,
      { url: registry.label, status: 404 },
    );
  }
  if (manifest.mediaType === MEDIA_OCI_INDEX || manifest.mediaType === MEDIA_DOCKER_LIST) {
    const index = JSON.parse(manifest.bytes.toString('utf8')) as ImageIndex;
    const entries = index.manifests ?? [];
    const matches = entries.filter(
      (m) =>
        m.platform?.os === platform.os &&
        m.platform?.architecture === platform.architecture &&
        (platform.variant === undefined || m.platform?.variant === platform.variant),
    );
    const chosen = matches[0] ?? (entries.length === 1 && !entries[0]!.platform ? entries[0] : undefined);
    if (!chosen) {
      const have = entries.map(
        (m) =>
          `${m.platform?.os ?? '?'}/${m.platform?.architecture ?? '?'}${m.platform?.variant ? `/${m.platform.variant}` : ''}`,
      );
      throw new RemoteSourceError(
        'REMOTE_OCI_PLATFORM',
        `${registry.label} is an index without an entry for ${platform.os}/${platform.architecture}; it has ${have.join(', ') || 'no entries'}: pass the platform option or push an artifact for this platform`,
        { url: registry.label },
      );
    }
    manifest = await registry.manifest(chosen.digest, [MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST], signal);
    if (!manifest) {
      throw new RemoteSourceError(
        'REMOTE_NOT_FOUND',
        `${registry.label}: index entry ${chosen.digest} not found (HTTP 404); the index is broken, push it again`,
        {
          url: registry.label,
          status: 404,
        },
      );
    }
  }
  if (manifest.mediaType !== MEDIA_OCI_MANIFEST && manifest.mediaType !== MEDIA_DOCKER_MANIFEST) {
    throw new RemoteSourceError(
      'REMOTE_OCI_MANIFEST',
      `${registry.label} resolved to media type '${manifest.mediaType}', expected an OCI image manifest; push the COSI with 'trident cosi push' or 'oras push'`,
      { url: registry.label },
    );
  }
  const body = JSON.parse(manifest.bytes.toString('utf8')) as ImageManifest;
  const layers = body.layers ?? [];
  if (layers.length !== 1) {
    throw new RemoteSourceError(
      'REMOTE_OCI_LAYERS',
      `${registry.label} (manifest ${manifest.digest}) has ${layers.length} layers; a COSI artifact must have exactly 1 layer holding the COSI file: push it with 'trident cosi push <file> oci://…'`,
      { url: registry.label },
    );
  }
  const layer = layers[0]!;
  if (typeof layer.digest !== 'string' || !Number.isSafeInteger(layer.size)) {
    throw new RemoteSourceError(
      'REMOTE_OCI_MANIFEST',
      `${registry.label}: the layer descriptor has no valid digest or size`,
      { url: registry.label },
    );
  }
  return {
    layer,
    manifestDigest: manifest.digest,
    artifactType: body.artifactType ?? body.config?.mediaType,
  };
}
