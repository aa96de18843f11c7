/** Public entry points: text or value in, typed configuration and coded findings out. */
import { type Finding, HostConfigError, hasErrors } from './errors.ts';
import { issuesToFindings } from './issues.ts';
import { MAX_FINDINGS } from './rules/context.ts';
import { type HostConfiguration, HostConfigurationSchema } from './schema/root.ts';
import { type SemanticOptions, truncationFindings, validateSemantics } from './validate.ts';
import { readYaml, type SourceDocument, sourceFromValue } from './yaml-source.ts';

export interface ParseOptions extends SemanticOptions {
  /** Run the semantic rules of reference §3 after the schema (default true). */
  semantic?: boolean;
}

export interface ParseResult {
  /** True when no finding has severity `error`. */
  readonly ok: boolean;
  /** The typed document with defaults, present whenever the schema accepted it. */
  readonly config: HostConfiguration | undefined;
  /** Errors, warnings and notes, ordered by position. */
  readonly findings: readonly Finding[];
  /** The YAML source (positions, comments) when parsed from text. */
  readonly source: SourceDocument | undefined;
}

function byPosition(findings: Finding[]): Finding[] {
  const rank = (f: Finding) => (f.line === 0 ? Number.MAX_SAFE_INTEGER : f.line);
  return findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => rank(a.f) - rank(b.f) || a.f.column - b.f.column || a.i - b.i)
    .map(({ f }) => f);
}

function run(source: SourceDocument, options: ParseOptions): ParseResult {
  const findings = [...source.findings];
  if (source.value === undefined || hasErrors(findings))
    return { ok: false, config: undefined, findings: byPosition(findings), source };
  const value = source.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    findings.push({
      code: 'HC_NOT_A_MAPPING',
      severity: 'error',
      path: '',
      line: 1,
      column: 1,
      message:
        'A Host Configuration is a mapping of sections (`image`, `storage`, `os`, ...), not a list or a single value.',
    });
    return { ok: false, config: undefined, findings, source };
  }
  const parsed = HostConfigurationSchema.safeParse(value);
  if (!parsed.success) {
    // Positions cost a walk of the document each: only the first issues are turned into findings.
    const issues = parsed.error.issues;
    findings.push(...issuesToFindings(issues.slice(0, MAX_FINDINGS), source));
    findings.push(
      ...truncationFindings({ error: Math.max(0, issues.length - MAX_FINDINGS), warning: 0, info: 0 }),
    );
    return { ok: false, config: undefined, findings: byPosition(findings), source };
  }
  if (options.semantic !== false) findings.push(...validateSemantics(parsed.data, source, options));
  return { ok: !hasErrors(findings), config: parsed.data, findings: byPosition(findings), source };
}

/** Parses and validates Host Configuration YAML. Never throws for bad input: read `findings`. */
export function parseHostConfig(text: string, options: ParseOptions = {}): ParseResult {
  if (typeof text !== 'string')
    throw new HostConfigError(
      'HC_INVALID_ARGUMENT',
      `parseHostConfig expects the YAML text as a string, got ${typeof text}.`,
    );
  return run(readYaml(text), options);
}

/** Validates an already-decoded value (e.g. JSON from the gRPC API); findings carry no line numbers. */
export function validateHostConfig(value: unknown, options: ParseOptions = {}): ParseResult {
  return { ...run(sourceFromValue(value), options), source: undefined };
}

/** Like `parseHostConfig` but returns only a valid document; throws `HC_INVALID_DOCUMENT` otherwise. */
export function parseHostConfigOrThrow(
  text: string,
  options: ParseOptions & { file?: string } = {},
): { config: HostConfiguration; warnings: readonly Finding[] } {
  const result = parseHostConfig(text, options);
  if (!result.ok || result.config === undefined) {
    const errors = result.findings.filter((f) => f.severity === 'error');
    const first = errors[0];
    const where =
      first === undefined
        ? ''
        : ` First: ${first.path === '' ? '' : `${first.path} `}(line ${first.line}): ${first.message}`;
    throw new HostConfigError(
      'HC_INVALID_DOCUMENT',
      `Host Configuration${options.file === undefined ? '' : ` ${options.file}`} is invalid: ${errors.length} error(s).${where}`,
      { findings: result.findings },
    );
  }
  return { config: result.config, warnings: result.findings };
}
