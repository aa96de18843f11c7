/** Shared state of one semantic validation run. */
import { CODES, type HostConfigCode, type Severity } from '../codes.ts';
import type { Finding } from '../errors.ts';
import { formatPath, type Path } from '../path.ts';
import type { HostConfiguration } from '../schema/root.ts';
import { locate, type SourceDocument } from '../yaml-source.ts';

/** How many findings of each severity a validation keeps; past this they are only counted. */
export const MAX_FINDINGS = 1000;

export type SeverityCounts = Record<Severity, number>;

export interface RuleContext {
  readonly config: HostConfiguration;
  readonly findings: Finding[];
  /** Findings counted but not kept (the first MAX_FINDINGS of each severity are). */
  readonly omitted: SeverityCounts;
  report(code: HostConfigCode, path: Path, message: string, severity?: Severity): void;
  /** Like `report`, positioned at the key of the last path segment rather than its value. */
  reportKey(code: HostConfigCode, path: Path, message: string): void;
}

export function createRuleContext(
  config: HostConfiguration,
  source: SourceDocument | undefined,
): RuleContext {
  const findings: Finding[] = [];
  const kept: SeverityCounts = { error: 0, warning: 0, info: 0 };
  const omitted: SeverityCounts = { error: 0, warning: 0, info: 0 };
  return {
    config,
    findings,
    omitted,
    report(code, path, message, severity) {
      add(code, path, message, severity ?? CODES[code].severity, false);
    },
    reportKey(code, path, message) {
      add(code, path, message, CODES[code].severity, true);
    },
  };

  function add(code: HostConfigCode, path: Path, message: string, level: Severity, key: boolean): void {
    // Counted before locating: a document with thousands of bad entries must stay cheap.
    if (kept[level] >= MAX_FINDINGS) {
      omitted[level]++;
      return;
    }
    kept[level]++;
    const pos = source === undefined ? { line: 0, column: 0 } : locate(source, path, key);
    findings.push({
      code,
      severity: level,
      path: formatPath(path),
      line: pos.line,
      column: pos.column,
      message,
    });
  }
}
