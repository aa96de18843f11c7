/**
 * A validation finding: a stable code, a JSON path (or tar member) saying where, and a message
 * saying what is wrong and what the rule is. Errors make a COSI invalid; warnings do not.
 */
export interface Finding {
  code: string;
  severity: 'error' | 'warning';
  /** JSON path into metadata.json (`images[1].fsUuid`), or `tar:<member>` for container rules. */
  path: string;
  message: string;
}

export interface ValidationReport {
  profile: ValidationProfile;
  valid: boolean;
  /** The first `MAX_FINDINGS` errors; `omittedErrors` counts the rest. */
  errors: Finding[];
  warnings: Finding[];
  /** Errors found but not listed (the list is capped so hostile metadata cannot exhaust memory). */
  omittedErrors: number;
  omittedWarnings: number;
}

/**
 * `trident`: accept exactly what Trident accepts, reject what it rejects (its parse, validate()
 * and the GPT checks stream-disk runs). `spec`: every MUST of the COSI specification.
 */
export type ValidationProfile = 'trident' | 'spec';

/**
 * How many findings of each severity a list keeps. Metadata with a million bad values would
 * otherwise make a million findings (and run out of memory); past this, findings are counted.
 */
export const MAX_FINDINGS = 1000;

/** Findings in the order found, capped per severity, with repeats (same code, path, message) dropped. */
export class FindingList {
  readonly items: Finding[] = [];
  /** Findings counted but not kept, by severity. */
  readonly omitted = { error: 0, warning: 0 };
  private readonly kept = { error: 0, warning: 0 };
  private readonly keys = new Set<string>();

  error(code: string, path: string, message: string): void {
    this.add({ code, severity: 'error', path, message });
  }

  warn(code: string, path: string, message: string): void {
    this.add({ code, severity: 'warning', path, message });
  }

  add(finding: Finding): void {
    if (this.kept[finding.severity] >= MAX_FINDINGS) {
      this.omitted[finding.severity]++;
      return;
    }
    const key = `${finding.severity}|${finding.code}|${finding.path}|${finding.message}`;
    if (this.keys.has(key)) return;
    this.keys.add(key);
    this.kept[finding.severity]++;
    this.items.push(finding);
  }

  /** Counts findings that were not even produced one by one (e.g. the rest of a capped scan). */
  omit(severity: Finding['severity'], count: number): void {
    this.omitted[severity] += count;
  }

  get hasErrors(): boolean {
    return this.kept.error > 0 || this.omitted.error > 0;
  }
}

export function toReport(profile: ValidationProfile, findings: FindingList): ValidationReport {
  const errors = findings.items.filter((finding) => finding.severity === 'error');
  return {
    profile,
    valid: !findings.hasErrors,
    errors,
    warnings: findings.items.filter((f) => f.severity === 'warning'),
    omittedErrors: findings.omitted.error,
    omittedWarnings: findings.omitted.warning,
  };
}

/** Formats a JSON path from its segments: `images[1].fsUuid`. */
export function jsonPath(...segments: Array<string | number>): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out;
}
