import { publish } from './diagnostics.ts';
import { RemoteSourceError } from './errors.ts';
import { openHttpSource } from './http-source.ts';
import { MEDIA_COSI_LAYER } from './media-types.ts';
import { parseOciReference } from './oci-reference.ts';
import { type OciOptions, OciRegistry } from './oci-registry.ts';
import { hostPlatform, type ResolvedBlob, resolveOciBlob } from './oci-resolve.ts';
import type { RandomAccessSource } from './types.ts';

export interface OciSource extends RandomAccessSource {
  /** Digest of the layer blob being read (also `etag`). */
  readonly digest: string;
  readonly manifestDigest: string | undefined;
  readonly artifactType: string | undefined;
  /** Media type of the layer (`application/vnd.oci.image.layer.v1.tar` for a COSI pushed by trident or oras). */
  readonly layerMediaType: string;
}

/** Layer types that hold the file as is: what `trident cosi push` and `oras push` write, and plain bytes. */
const PLAIN_LAYER_TYPES = new Set([
  MEDIA_COSI_LAYER,
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/octet-stream',
]);

/** Magic numbers of the compressions a layer media type can announce. */
const COMPRESSION_MAGIC: Array<[string, number[]]> = [
  ['gzip', [0x1f, 0x8b]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
];

/**
 * Opens the single layer of an OCI artifact as a random-access source: range reads of
 * `/v2/<repo>/blobs/<digest>` (through storage redirects, which get no registry credentials), with
 * the same resume logic as plain HTTP, and the digest verified on whole-blob reads.
 */
export async function openOciSource(url: string, options: OciOptions = {}): Promise<OciSource> {
  const ref = parseOciReference(url);
  const registry = await OciRegistry.connect(ref, options, 'pull');
  try {
    const resolved = await resolveOciBlob(registry, options.platform ?? hostPlatform(), options.signal);
    const layer = resolved.layer;
    const source = await openHttpSource(
      registry.url(`blobs/${layer.digest}`),
      { client: registry.client, signal: options.signal },
      {
        auth: registry.auth,
        label: registry.label,
        expectedSize: Number.isSafeInteger(layer.size) ? layer.size : undefined,
        digest: layer.digest,
        ownsClient: true,
      },
    );
    try {
      await checkLayerType(registry.label, resolved, source, options.signal);
    } catch (err) {
      await source.close();
      throw err;
    }
    const wrapped: OciSource = {
      url: source.url,
      size: source.size,
      etag: layer.digest,
      mode: source.mode,
      digest: layer.digest,
      manifestDigest: resolved.manifestDigest,
      artifactType: resolved.artifactType,
      layerMediaType: layer.mediaType,
      read: (offset, length, readOptions) => source.read(offset, length, readOptions),
      stream: (offset, length, readOptions) => source.stream(offset, length, readOptions),
      close: () => source.close(),
    };
    return wrapped;
  } catch (err) {
    // Idempotent with the source's own close of the shared client: the real error stays the error.
    await registry.close();
    throw err;
  }
}

/**
 * A COSI layer holds the COSI file as is. Media types that announce compression (`tar+gzip`,
 * Docker's `rootfs.diff.tar.gzip`, `+zstd`...) mean a container-image layer, not a COSI: when the
 * first bytes confirm the compression, refuse with the layer type to use; other unexpected types
 * only get a warning (artifacts pushed with custom types still read, as in Trident).
 */
async function checkLayerType(
  label: string,
  resolved: ResolvedBlob,
  source: RandomAccessSource,
  signal: AbortSignal | undefined,
): Promise<void> {
  const type = resolved.layer.mediaType;
  if (PLAIN_LAYER_TYPES.has(type)) return;
  const announced = /(?:[+.](gzip|zstd|bzip2|xz)|\/(?:x-)?(gzip|zstd|bzip2|xz))$/.exec(type);
  const hint = `a COSI artifact's layer is the COSI file itself, media type ${MEDIA_COSI_LAYER}: push it with 'trident cosi push <file> oci://…' or 'oras push <ref> <file>.cosi:${MEDIA_COSI_LAYER}'`;
  if (announced && source.size > 0) {
    const head = await source.read(0, Math.min(6, source.size), { signal });
    const found = COMPRESSION_MAGIC.find(([, magic]) => magic.every((byte, i) => head[i] === byte));
    if (found) {
      throw new RemoteSourceError(
        'REMOTE_OCI_LAYERS',
        `${label}: the layer (${resolved.layer.digest}) has media type ${type} and is ${found[0]}-compressed, so it is a container-image layer, not a COSI file; ${hint}`,
        { url: label },
      );
    }
  }
  publish.warning({
    url: label,
    code: 'LAYER_MEDIA_TYPE',
    message: `layer media type ${type} is not the COSI layer type; reading it as a COSI anyway (${hint})`,
  });
}
