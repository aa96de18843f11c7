import { readFile, stat, writeFile } from 'node:fs/promises';
import { formatSha384, openCosi } from '@trident/cosi-format';
import {
  checkImageCompatibility,
  type Finding,
  formatFinding,
  hostConfigJsonSchema,
  MAX_DOCUMENT_BYTES,
  migrateHostConfig,
  parseHostConfig,
} from '@trident/host-config';
import { CliError, EXIT } from '../cli-error.ts';
import { openInput } from '../open-input.ts';
import type { Output } from '../output.ts';
import type { SourceFlags } from '../source-options.ts';

/** Trident's default Host Configuration location (main.ts repeats it to avoid loading this module). */
export const DEFAULT_CONFIG = '/etc/trident/config.yaml';

async function readConfig(path: string): Promise<string> {
  try {
    // A Host Configuration is a few KiB; refuse to load a huge file into memory at all.
    const { size } = await stat(path);
    if (size > MAX_DOCUMENT_BYTES) {
      throw new CliError(
        'HC_YAML_TOO_LARGE',
        `${path} is ${size} bytes; a Host Configuration may be at most ${MAX_DOCUMENT_BYTES} bytes (4 MiB)`,
        EXIT.invalid,
      );
    }
    return await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(
      'CLI_CONFIG_UNREADABLE',
      `cannot read Host Configuration ${path}: ${(error as Error).message}`,
      EXIT.io,
    );
  }
}

function report(
  output: Output,
  path: string,
  findings: readonly Finding[],
  extra: Record<string, unknown> = {},
): number {
  const errors = findings.filter((f) => f.severity === 'error');
  if (output.json) output.printJson({ file: path, valid: errors.length === 0, findings, ...extra });
  else {
    for (const finding of findings) output.line(formatFinding(finding, path));
    output.line(
      `${path}: ${errors.length === 0 ? 'valid' : 'INVALID'}: ${errors.length} error(s), ${findings.length - errors.length} other finding(s)`,
    );
  }
  return errors.length === 0 ? EXIT.ok : EXIT.invalid;
}

/**
 * `trident validate [config] [--image URL]`: static validation, as Trident's `validate`: the schema
 * and the semantic rules, offline, whatever `image.url` says. Only with `--image` is a COSI opened
 * and the configuration cross-checked against its metadata (mount points, verity, ESP, sizes);
 * pass the configured URL itself to check the configured image (its `image.sha384` is then pinned).
 */
export async function validateConfigCommand(
  path: string,
  output: Output,
  options: { image?: string | undefined; signal: AbortSignal; source: SourceFlags },
): Promise<number> {
  const text = await readConfig(path);
  const parsed = parseHostConfig(text);
  const findings = [...parsed.findings];
  const configured = parsed.config?.image;
  const imageUrl = options.image;
  if (parsed.ok && parsed.config && imageUrl !== undefined) {
    // The configured hash applies to the configured image only; the spec parser takes `sha384:<hex>`.
    const pinned = imageUrl === configured?.url && configured.sha384 !== 'ignored';
    const reader = await openCosi(
      await openInput(imageUrl, { signal: options.signal, source: options.source }),
      {
        expectedSha384: pinned ? formatSha384(configured.sha384) : 'ignored',
        signal: options.signal,
      },
    );
    try {
      const { imageFactsFromCosi } = await import('@trident/engine');
      findings.push(
        ...checkImageCompatibility(parsed.config, imageFactsFromCosi(reader.metadata), {
          source: parsed.source,
        }),
      );
    } finally {
      await reader.close();
    }
  } else if (configured && !output.json) {
    output.error(
      `note: the image was not opened (validation is static); pass --image ${configured.url} to cross-check the configuration against it`,
    );
  }
  return report(output, path, findings, imageUrl ? { image: imageUrl } : {});
}

/** `trident config migrate <file> [-o out]`: rewrites an older-API document; prints every change. */
export async function migrateConfigCommand(
  path: string,
  output: Output,
  options: { out?: string | undefined },
): Promise<number> {
  const result = migrateHostConfig(await readConfig(path));
  if (output.json) {
    output.printJson({
      file: path,
      ok: result.ok,
      era: result.era,
      changes: result.changes,
      text: result.text,
      validation: result.validation?.findings ?? [],
    });
  } else {
    for (const change of result.changes) output.error(formatFinding(change, path));
  }
  if (!result.ok || result.text === undefined) {
    if (!output.json) output.error(`${path}: cannot be migrated (see the errors above)`);
    return EXIT.invalid;
  }
  if (options.out) await writeFile(options.out, result.text);
  else if (!output.json) output.line(result.text.trimEnd());
  const invalid = result.validation && !result.validation.ok;
  if (invalid && !output.json) {
    for (const finding of result.validation?.findings ?? [])
      output.error(formatFinding(finding, options.out ?? '<migrated>'));
  }
  return invalid ? EXIT.invalid : EXIT.ok;
}

/** `trident config schema`: JSON Schema of the Host Configuration, for editors. */
export function schemaCommand(output: Output): number {
  output.printJson(hostConfigJsonSchema());
  return EXIT.ok;
}
