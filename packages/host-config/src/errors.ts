/**
 * Failures this package throws are `HostConfigError`s with a stable `code`. Validation itself does
 * not throw: it returns `Finding`s. A thrown `HC_INVALID_DOCUMENT` wraps the findings when a caller
 * asks for a document that must be valid.
 */
import type { HostConfigCode, Severity } from './codes.ts';
import { formatPath, type Path } from './path.ts';

export interface Finding {
  readonly code: HostConfigCode;
  readonly severity: Severity;
  /** Dotted path such as `storage.filesystems[2].source`; empty string for the document root. */
  readonly path: string;
  /** 1-based line of the offending node (or its nearest existing parent); 0 when unknown. */
  readonly line: number;
  /** 1-based column; 0 when unknown. */
  readonly column: number;
  /** What is wrong and how to fix it. */
  readonly message: string;
}

export interface HostConfigErrorDetails {
  findings?: readonly Finding[];
  path?: Path;
  cause?: unknown;
}

export class HostConfigError extends Error {
  override readonly name = 'HostConfigError';
  readonly code: HostConfigCode;
  readonly findings: readonly Finding[];
  readonly path: string | undefined;

  constructor(code: HostConfigCode, message: string, details: HostConfigErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.findings = details.findings ?? [];
    this.path = details.path === undefined ? undefined : formatPath(details.path);
  }
}

export function isHostConfigError(value: unknown, code?: HostConfigCode): value is HostConfigError {
  return value instanceof HostConfigError && (code === undefined || value.code === code);
}

/** One line per finding: `path (line L, column C): CODE message`. */
export function formatFinding(finding: Finding, file?: string): string {
  const where =
    finding.line > 0 ? `${file ?? '<input>'}:${finding.line}:${finding.column}` : (file ?? '<input>');
  const path = finding.path === '' ? '' : ` ${finding.path}:`;
  return `${where}: ${finding.severity} ${finding.code}${path} ${finding.message}`;
}

export function hasErrors(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === 'error');
}
