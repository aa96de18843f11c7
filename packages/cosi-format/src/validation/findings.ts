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
  errors: Finding[];
  warnings: Finding[];
}

/**
 * `trident`: accept exactly what Trident accepts, reject what it rejects (its parse, validate()
 * and the GPT checks stream-disk runs). `spec`: every MUST of the COSI specification.
 */
export type ValidationProfile = 'trident' | 'spec';

export class FindingList {
  readonly items: Finding[] = [];

  error(code: string, path: string, message: string): void {
    this.items.push({ code, severity: 'error', path, message });
  }

  warn(code: string, path: string, message: string): void {
    this.items.push({ code, severity: 'warning', path, message });
  }

  get hasErrors(): boolean {
    return this.items.some((item) => item.severity === 'error');
  }
}

export function toReport(profile: ValidationProfile, findings: readonly Finding[]): ValidationReport {
  const errors = findings.filter((finding) => finding.severity === 'error');
  return {
    profile,
    valid: errors.length === 0,
    errors,
    warnings: findings.filter((f) => f.severity === 'warning'),
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
