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

/**
 * A Host Configuration recorded in the datastore (`spec`, `specOld`), read by schema only: it was
 * validated when it was given, so findings that do not stop it parsing are only reported through
 * `onFinding`. One that does not parse is `invalid-host-configuration-static` with the caller's code.
 */
export function parseRecordedConfiguration(
  spec: Record<string, unknown> | undefined,
  options: { what: string; code: string; onFinding?: ((message: string) => void) | undefined },
): HostConfiguration {
  const parsed = parseHostConfig(JSON.stringify(spec ?? {}));
  const errors = parsed.findings
    .filter((f) => f.severity === 'error')
    .map((f) => `${f.path || '(document)'}: ${f.message}`);
  if (parsed.config === undefined)
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-host-configuration-static',
      `the ${options.what} recorded in the datastore does not parse: ${errors.join('; ') || 'no document'}`,
      { code: options.code },
    );
  for (const error of errors) options.onFinding?.(`recorded ${options.what}, ${error}`);
  return parsed.config;
}
