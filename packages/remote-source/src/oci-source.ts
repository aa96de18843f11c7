import { openHttpSource } from './http-source.ts';
import { parseOciReference } from './oci-reference.ts';
import { type OciOptions, OciRegistry } from './oci-registry.ts';
import { hostPlatform, resolveOciBlob } from './oci-resolve.ts';
import type { RandomAccessSource } from './types.ts';

export interface OciSource extends RandomAccessSource {
  /** Digest of the layer blob being read (also `etag`). */
  readonly digest: string;
  readonly manifestDigest: string | undefined;
  readonly artifactType: string | undefined;
}

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
    const source = await openHttpSource(
      registry.url(`blobs/${resolved.layer.digest}`),
      { client: registry.client, signal: options.signal },
      {
        auth: registry.auth,
        label: registry.label,
        expectedSize: resolved.layer.size,
        digest: resolved.layer.digest,
        ownsClient: true,
      },
    );
    const wrapped: OciSource = {
      url: source.url,
      size: source.size,
      etag: resolved.layer.digest,
      mode: source.mode,
      digest: resolved.layer.digest,
      manifestDigest: resolved.manifestDigest,
      artifactType: resolved.artifactType,
      read: (offset, length, readOptions) => source.read(offset, length, readOptions),
      stream: (offset, length, readOptions) => source.stream(offset, length, readOptions),
      close: () => source.close(),
    };
    return wrapped;
  } catch (err) {
    await registry.close();
    throw err;
  }
}
