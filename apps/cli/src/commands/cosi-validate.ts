import {
  type CosiReader,
  type Finding,
  isCosiError,
  openCosi,
  type ValidationProfile,
} from '@trident/cosi-format';
import { CliError, EXIT } from '../cli-error.ts';
import { openInput } from '../open-input.ts';
import type { Output } from '../output.ts';
import type { SourceFlags } from '../source-options.ts';

export interface ValidateOptions {
  profile: string;
  metadataOnly: boolean;
  sha384?: string | undefined;
  signal?: AbortSignal;
  source?: SourceFlags;
}

/**
 * Validates a COSI file against a profile and, unless told otherwise, reads every image to check
 * its hash and size. Prints every finding with its code and JSON path; exit 1 when invalid.
 */
export async function validateCommand(
  location: string,
  output: Output,
  options: ValidateOptions,
): Promise<number> {
  if (options.profile !== 'trident' && options.profile !== 'spec') {
    throw new CliError('CLI_BAD_PROFILE', `--profile must be "trident" or "spec", not "${options.profile}"`);
  }
  const profile: ValidationProfile = options.profile;
  const source = await openInput(location, {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.source ? { source: options.source } : {}),
  });
  let reader: CosiReader;
  try {
    reader = await openCosi(source, {
      ...(options.sha384 ? { expectedSha384: options.sha384 } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    await source.close?.();
    if (isCosiError(error) && error.findings.length > 0)
      return printReport(output, location, profile, [...error.findings], []);
    throw error;
  }
  try {
    const report = await reader.validate(profile, options.signal ? { signal: options.signal } : {});
    const errors = [...report.errors];
    if (!options.metadataOnly) {
      const verified = await reader.verifyImages({
        ...(options.signal ? { signal: options.signal } : {}),
        onImage: (result) => {
          if (!output.json) output.error(`  ${result.ok ? 'ok  ' : 'FAIL'} ${result.file.path}`);
        },
      });
      for (const result of verified) if (result.finding) errors.push(result.finding);
    }
    return printReport(output, location, profile, errors, report.warnings);
  } finally {
    await reader.close();
  }
}

function printReport(
  output: Output,
  location: string,
  profile: ValidationProfile,
  errors: Finding[],
  warnings: Finding[],
): number {
  const valid = errors.length === 0;
  if (output.json) {
    output.printJson({ location, profile, valid, errors, warnings });
  } else {
    for (const finding of [...errors, ...warnings]) {
      const where = finding.path === '' ? '' : ` at ${finding.path}`;
      output.line(
        `${finding.severity === 'error' ? 'error' : 'warning'} ${finding.code}${where}: ${finding.message}`,
      );
    }
    output.line(
      `${location}: ${valid ? 'valid' : 'INVALID'} (${profile} profile): ${errors.length} error(s), ${warnings.length} warning(s)`,
    );
  }
  return valid ? EXIT.ok : EXIT.invalid;
}
