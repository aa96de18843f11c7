import {
  type ByteSource,
  CosiError,
  type CosiReader,
  createBufferSource,
  type ExpectedSha384,
  type Finding,
  isCosiError,
  isJsonDocument,
  MAX_FINDINGS,
  MAX_METADATA_BYTES,
  openCosi,
  parseSha384Spec,
  readMetadataDocument,
  type ValidationProfile,
  validateMetadataDocument,
} from '@trident/cosi-format';
import {
  declaredWindowLog,
  detectMemoryBudget,
  fitConcurrency,
  MemoryBudgetError,
  verifierBytes,
} from '@trident/engine/memory-budget';
import { CliError, EXIT } from '../cli-error.ts';
import { openInput } from '../open-input.ts';
import type { Output } from '../output.ts';
import type { SourceFlags } from '../source-options.ts';

export interface ValidateOptions {
  profile: string;
  metadataOnly: boolean;
  sha384?: string | undefined;
  /** `--memory-limit`: a size; default the cgroup limit, else what the host has. */
  memoryLimit?: string | undefined;
  signal?: AbortSignal;
  source?: SourceFlags;
  /** Standard input, for `-` (tests pass their own stream). */
  stdin?: AsyncIterable<Uint8Array>;
}

/** What a report holds after capping: the first findings, and how many more there were. */
interface Findings {
  errors: Finding[];
  warnings: Finding[];
  omittedErrors: number;
  omittedWarnings: number;
}

/**
 * Validates a COSI file against a profile and, unless told otherwise, reads every image to check
 * its hash and size. The input may also be a bare metadata.json (recognised by its content, or
 * `-` for standard input): then only the metadata rules run. Prints every finding with its code
 * and JSON path (the first MAX_FINDINGS of each severity, and a count of the rest); exit 1 when
 * invalid.
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
  // Parse the expected hash before touching the input: a malformed one is a usage error.
  const expected = options.sha384 === undefined ? undefined : parseSha384Spec(options.sha384);
  // The size grammar lives in host-config: loaded only when the flag is given.
  const memoryLimit =
    options.memoryLimit === undefined
      ? undefined
      : (await import('../parse-size.ts')).parseSize(options.memoryLimit, '--memory-limit');
  const signal = options.signal ? { signal: options.signal } : {};
  const source =
    location === '-'
      ? createBufferSource(await readStdin(options.stdin ?? process.stdin), '<stdin>')
      : await openInput(location, { ...signal, ...(options.source ? { source: options.source } : {}) });
  try {
    const head = await source.read(0, Math.min(source.size, 512), signal);
    if (isJsonDocument(head))
      return await validateMetadataFile(source, location, output, profile, { ...options, expected });
    if (location === '-') {
      throw new CliError(
        'CLI_STDIN_NOT_METADATA',
        'standard input is not a metadata.json (JSON text); pass a COSI file by path or URL instead of "-"',
      );
    }
  } catch (error) {
    await source.close?.();
    throw error;
  }
  let reader: CosiReader;
  try {
    reader = await openCosi(source, { ...(expected ? { expectedSha384: expected } : {}), ...signal });
  } catch (error) {
    await source.close?.();
    if (isCosiError(error) && error.findings.length > 0) {
      return printReport(output, location, profile, {
        errors: error.findings.filter((f) => f.severity === 'error'),
        warnings: error.findings.filter((f) => f.severity === 'warning'),
        omittedErrors: error.omittedFindings,
        omittedWarnings: 0,
      });
    }
    throw error;
  }
  try {
    const report = await reader.validate(profile, signal);
    const findings: Findings = { ...report, errors: [...report.errors] };
    if (!options.metadataOnly) {
      checkDecoderFits(reader, memoryLimit);
      const verified = await reader.verifyImages({
        ...signal,
        onImage: (result) => {
          if (!output.json) output.error(`  ${result.ok ? 'ok  ' : 'FAIL'} ${result.file.path}`);
        },
      });
      for (const result of verified) {
        if (!result.finding) continue;
        if (findings.errors.length < MAX_FINDINGS) findings.errors.push(result.finding);
        else findings.omittedErrors++;
      }
    }
    return printReport(output, location, profile, findings);
  } finally {
    await reader.close();
  }
}

/**
 * Verifying decodes every image: refuse, before allocating it, a zstd window the memory budget
 * cannot hold (a COSI may declare maxWindowLog 31, a 2 GiB window), as stream-disk does.
 */
function checkDecoderFits(reader: CosiReader, memoryLimit: number | undefined): void {
  const windowLog = declaredWindowLog(reader.metadata.compression?.maxWindowLog);
  const first = reader.metadata.images[0];
  try {
    fitConcurrency({
      budget: detectMemoryBudget({ limit: memoryLimit }),
      images: [{ name: first?.image.path ?? 'images', windowLog }],
      wanted: 1,
      cost: verifierBytes,
      verb: 'verifying',
    });
  } catch (error) {
    if (error instanceof MemoryBudgetError) throw new CliError(error.code, error.message, EXIT.io);
    throw error;
  }
}

/** A bare metadata.json: the metadata rules of the profile, no archive or images to check. */
async function validateMetadataFile(
  source: ByteSource,
  location: string,
  output: Output,
  profile: ValidationProfile,
  options: ValidateOptions & { expected: ExpectedSha384 | undefined },
): Promise<number> {
  const document = await readMetadataDocument(source, options.signal ? { signal: options.signal } : {});
  await source.close?.();
  const expected = options.expected;
  if (expected?.kind === 'sha384' && expected.hex !== document.sha384) {
    throw new CosiError(
      'COSI_METADATA_HASH_MISMATCH',
      `${location}: COSI metadata hash '${document.sha384}' does not match expected hash '${expected.hex}'`,
    );
  }
  if (!output.json && !options.metadataOnly) {
    output.error(
      `note: ${location} is a metadata.json on its own: the metadata rules run; the archive layout, GPT and images need the COSI file`,
    );
  }
  return printReport(output, location, profile, validateMetadataDocument(document.bytes, profile), {
    metadataOnly: true,
    metadataSha384: document.sha384,
  });
}

/** Reads standard input whole, refusing more than a metadata.json may hold. */
async function readStdin(stdin: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stdin) {
    total += chunk.length;
    if (total > MAX_METADATA_BYTES) {
      throw new CosiError(
        'COSI_METADATA_TOO_LARGE',
        `standard input holds more than ${MAX_METADATA_BYTES} bytes (16 MiB), more than a metadata.json may`,
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function printReport(
  output: Output,
  location: string,
  profile: ValidationProfile,
  findings: Findings,
  extra: Record<string, unknown> = {},
): number {
  const { errors, warnings, omittedErrors, omittedWarnings } = findings;
  const valid = errors.length === 0 && omittedErrors === 0;
  const errorCount = errors.length + omittedErrors;
  const warningCount = warnings.length + omittedWarnings;
  if (output.json) {
    output.printJson({
      location,
      profile,
      valid,
      errors,
      warnings,
      omittedErrors,
      omittedWarnings,
      ...extra,
    });
  } else {
    for (const finding of [...errors, ...warnings]) {
      const where = finding.path === '' ? '' : ` at ${finding.path}`;
      output.line(
        `${finding.severity === 'error' ? 'error' : 'warning'} ${finding.code}${where}: ${finding.message}`,
      );
    }
    if (omittedErrors > 0 || omittedWarnings > 0) {
      output.line(
        `... and ${omittedErrors} more error(s), ${omittedWarnings} more warning(s) not listed (at most ${MAX_FINDINGS} of each are shown)`,
      );
    }
    output.line(
      `${location}: ${valid ? 'valid' : 'INVALID'} (${profile} profile${extra['metadataOnly'] ? ', metadata only' : ''}): ${errorCount} error(s), ${warningCount} warning(s)`,
    );
  }
  return valid ? EXIT.ok : EXIT.invalid;
}
