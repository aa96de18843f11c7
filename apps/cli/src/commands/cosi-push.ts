import { openCosi } from '@trident/cosi-format';
import { isRemoteSourceError, parseOciReference, pushOci } from '@trident/remote-source';
import { formatBytes } from '@trident/units';
import { CliError } from '../cli-error.ts';
import type { Output } from '../output.ts';
import { remoteOptions, type SourceFlags } from '../source-options.ts';

/**
 * `trident cosi push <file> oci://registry/repo:tag`: publishes a COSI as a single-layer OCI
 * artifact. The file is opened as a COSI first, so nothing that is not one gets published.
 */
export async function pushCommand(
  file: string,
  reference: string | undefined,
  output: Output,
  options: { signal: AbortSignal; source: SourceFlags },
): Promise<number> {
  if (!reference?.startsWith('oci://'))
    throw new CliError(
      'CLI_MISSING_ARGUMENT',
      'trident cosi push needs a destination like oci://registry/repository:tag',
    );
  refuseDigestDestination(reference);
  const remote = remoteOptions(options.source);
  const reader = await openCosi(file, { signal: options.signal });
  const metadataSha384 = reader.metadataSha384;
  await reader.close();
  const result = await pushOci(file, reference, {
    ...remote,
    signal: options.signal,
    annotations: {
      'org.opencontainers.image.description': `COSI ${reader.metadata.version} ${reader.metadata.osArch}`,
      'com.microsoft.trident.cosi.metadata-sha384': metadataSha384,
    },
  });
  if (output.json) output.printJson({ ...result, metadataSha384 });
  else {
    output.line(`pushed ${file} (${formatBytes(result.size)}) to ${result.reference}`);
    output.line(
      `manifest ${result.digest}; pull by digest with oci://${repositoryOf(reference)}@${result.digest}`,
    );
    output.line(`metadata sha384 ${metadataSha384}`);
  }
  return 0;
}

/**
 * A pushed manifest gets its own digest (its annotations carry the push time), so a destination
 * naming one is a command-line mistake: say so before reading the file or touching the registry.
 */
function refuseDigestDestination(reference: string): void {
  let digest: string | undefined;
  try {
    digest = parseOciReference(reference).digest;
  } catch (error) {
    if (isRemoteSourceError(error)) throw new CliError('CLI_BAD_OPTION', error.message);
    throw error;
  }
  if (digest !== undefined) {
    throw new CliError(
      'CLI_BAD_OPTION',
      `trident cosi push cannot push to ${reference}: it names a digest (${digest}), and the pushed manifest gets its own; push to a tag (oci://${repositoryOf(reference)}:TAG) and pull by the digest it prints`,
    );
  }
}

/** `oci://host:port/repo:tag` → `host:port/repo` (the tag or digest dropped, a registry port kept). */
function repositoryOf(reference: string): string {
  const bare = reference.slice('oci://'.length).replace(/@.*$/u, '');
  const slash = bare.lastIndexOf('/');
  const colon = bare.lastIndexOf(':');
  return colon > slash ? bare.slice(0, colon) : bare;
}
