/**
 * A request's Host Configuration, parsed and validated once for every kind that takes one (install,
 * update): a coded INVALID_INPUT `invalid-host-configuration` naming the first error and where, the
 * validated configuration, and the document as the user wrote it (the datastore's `spec`).
 */
import { formatFinding, type HostConfiguration, parseHostConfig, plainDocument } from '@trident/host-config';
import { EngineError } from '../../errors.ts';

export interface ParsedRequestConfiguration {
  config: HostConfiguration;
  parsed: ReturnType<typeof parseHostConfig>;
  /** The document as plain data: what the Host Status records as `spec`. */
  spec: Record<string, unknown>;
  /** The file it came from, for messages. */
  file: string;
}

export function parseRequestConfiguration(hostConfiguration: {
  text: string;
  path?: string | undefined;
}): ParsedRequestConfiguration {
  const parsed = parseHostConfig(hostConfiguration.text);
  const file = hostConfiguration.path ?? 'host configuration';
  if (!parsed.ok || !parsed.config) {
    const errors = parsed.findings.filter((f) => f.severity === 'error');
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-host-configuration',
      `${formatFinding(errors[0]!, file)}${errors.length > 1 ? ` (and ${errors.length - 1} more; run 'trident validate ${file}')` : ''}`,
      { code: errors[0]!.code },
    );
  }
  const spec = (plainDocument(parsed.source?.value) ?? {}) as Record<string, unknown>;
  return { config: parsed.config, parsed, spec, file };
}
