import { contentLength, drain } from './body-limit.ts';
import { publish } from './diagnostics.ts';
import { RemoteSourceError } from './errors.ts';
import { type Descriptor, MANIFEST_ACCEPT } from './media-types.ts';
import type { FetchedDocument, OciRegistry } from './oci-registry.ts';
import { type CheckedIndex, type CheckedManifest, checkOciDocument } from './oci-schema.ts';
import { choosePlatform, formatPlatform, normalizePlatform, type Platform } from './platform.ts';

export { hostPlatform } from './platform.ts';

/** Index -> index -> manifest chains deeper than this are refused (a loop, or a hostile registry). */
const MAX_INDEX_DEPTH = 4;

export interface ResolvedBlob {
  /** The single layer: the COSI file. */
  layer: Descriptor;
  /** Digest of the image manifest that lists it (undefined when the reference named the blob). */
  manifestDigest: string | undefined;
  artifactType: string | undefined;
}

/**
 * Tag or digest -> manifest (through indexes by platform, nested ones included) -> its one layer.
 * A digest reference names a manifest or index and is resolved like a tag; for compatibility with
 * Trident, a digest that names a blob directly is accepted too (with a warning), never a manifest
 * read as the blob. Every document is checked (`checkOciDocument`) before any field is used.
 */
export async function resolveOciBlob(
  registry: OciRegistry,
  platform: Platform,
  signal?: AbortSignal,
): Promise<ResolvedBlob> {
  const ref = registry.ref;
  const reference = ref.digest ?? ref.tag!;
  let fetched = await registry.manifest(reference, MANIFEST_ACCEPT, signal, ref.digest !== undefined);
  if (!fetched && ref.digest) {
    const head = await registry.send({ method: 'HEAD', url: registry.url(`blobs/${ref.digest}`), signal });
    await drain(head.body);
    if (head.status === 200) {
      publish.warning({
        url: registry.label,
        code: 'BLOB_DIGEST_REFERENCE',
        message: `${ref.digest} is a blob, not a manifest: reading it directly (layer rules not checked)`,
      });
      const size = contentLength(head.headers, 'HEAD', head.url);
      return {
        layer: {
          mediaType: 'application/octet-stream',
          digest: ref.digest,
          size: size ?? Number.NaN,
        },
        manifestDigest: undefined,
        artifactType: undefined,
      };
    }
    fetched = await registry.manifest(reference, MANIFEST_ACCEPT, signal);
  }
  if (!fetched) {
    throw new RemoteSourceError(
      'REMOTE_NOT_FOUND',
      `${registry.label}: ${ref.digest ? `digest ${ref.digest}` : `tag '${ref.tag}'`} not found in repository ${ref.repository} on ${ref.registry} (HTTP 404); check the reference or push it first`,
      { url: registry.label, status: 404 },
    );
  }
  let what = `manifest ${reference}`;
  let document = checkOciDocument(fetched.json, fetched.mediaType, registry.label, what);
  for (let depth = 1; document.kind === 'index'; depth++) {
    if (depth > MAX_INDEX_DEPTH) {
      throw new RemoteSourceError(
        'REMOTE_OCI_MANIFEST',
        `${registry.label}: indexes nest more than ${MAX_INDEX_DEPTH} deep (at ${fetched.digest}); refusing to follow further`,
        { url: registry.label },
      );
    }
    const chosen = chooseEntry(registry, document, platform, what);
    // The entry may itself be an index (nested indexes): accept every manifest and index type.
    const next: FetchedDocument | undefined = await registry.manifest(chosen.digest, MANIFEST_ACCEPT, signal);
    if (!next) {
      throw new RemoteSourceError(
        'REMOTE_NOT_FOUND',
        `${registry.label}: index entry ${chosen.digest} (${formatPlatform(chosen.platform)}) not found (HTTP 404); the index is broken, push it again`,
        { url: registry.label, status: 404 },
      );
    }
    fetched = next;
    what = `manifest ${chosen.digest}`;
    document = checkOciDocument(fetched.json, fetched.mediaType, registry.label, what);
  }
  return oneLayer(registry, document, fetched.digest);
}

function chooseEntry(
  registry: OciRegistry,
  index: CheckedIndex,
  platform: Platform,
  what: string,
): CheckedIndex['manifests'][number] {
  const chosen = choosePlatform(index.manifests, platform);
  if (chosen) return chosen;
  const wanted = formatPlatform(platform);
  const normal = formatPlatform(normalizePlatform(platform));
  const have = index.manifests.map((m) => formatPlatform(m.platform));
  throw new RemoteSourceError(
    'REMOTE_OCI_PLATFORM',
    `${registry.label} (${what}) is an index without an entry for ${wanted}${normal !== wanted ? ` (normalised ${normal})` : ''}; ` +
      `it has ${have.join(', ') || 'no entries'}: pass one of them with --platform (option platform), or push an artifact for ${wanted}`,
    { url: registry.label },
  );
}

function oneLayer(registry: OciRegistry, manifest: CheckedManifest, digest: string): ResolvedBlob {
  if (manifest.layers.length !== 1) {
    throw new RemoteSourceError(
      'REMOTE_OCI_LAYERS',
      `${registry.label} (manifest ${digest}) has ${manifest.layers.length} layers; a COSI artifact must have exactly 1 layer holding the COSI file: push it with 'trident cosi push <file> oci://…'`,
      { url: registry.label },
    );
  }
  return {
    layer: manifest.layers[0]!,
    manifestDigest: digest,
    artifactType: manifest.artifactType ?? manifest.config.mediaType,
  };
}
