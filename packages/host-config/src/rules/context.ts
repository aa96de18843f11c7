/** Shared state of one semantic validation run. */
import { CODES, type HostConfigCode, type Severity } from '../codes.ts';
import type { Finding } from '../errors.ts';
import { formatPath, type Path } from '../path.ts';
import type { HostConfiguration } from '../schema/root.ts';
import { locate, type SourceDocument } from '../yaml-source.ts';

export interface RuleContext {
  readonly config: HostConfiguration;
  readonly findings: Finding[];
  report(code: HostConfigCode, path: Path, message: string, severity?: Severity): void;
}

export function createRuleContext(
  config: HostConfiguration,
  source: SourceDocument | undefined,
): RuleContext {
  const findings: Finding[] = [];
  return {
    config,
    findings,
    report(code, path, message, severity) {
      const pos = source === undefined ? { line: 0, column: 0 } : locate(source, path);
      findings.push({
        code,
        severity: severity ?? CODES[code].severity,
        path: formatPath(path),
        line: pos.line,
        column: pos.column,
        message,
      });
    },
  };
}
