import { createHash } from 'node:crypto';
import { FindingList, jsonPath, MAX_FINDINGS } from '../validation/findings.ts';
import { findExcessiveNesting, type JsonScan, MAX_JSON_DEPTH, scanJson } from '../validation/json-scan.ts';
import { type CosiMetadata, type CosiVersion, parseVersion } from './schema.ts';
import { parseShape } from './shape.ts';

/**
 * The largest metadata.json this reader accepts. Real ones are a few KiB to a few hundred KiB (a
 * package list of thousands of entries); 16 MiB leaves room for any real image while keeping a
 * hostile one from costing gigabytes.
 */
export const MAX_METADATA_BYTES = 16 * 1024 * 1024;

export interface ParsedMetadata {
  metadata: CosiMetadata;
  version: CosiVersion;
  /** What the JSON text says beyond its value: repeated keys, non-integer number spellings. */
  scan: JsonScan;
}

export type MetadataParseResult = ({ ok: true } & ParsedMetadata) | { ok: false; findings: FindingList };

/** SHA-384 of the metadata.json member bytes: exactly what Trident compares with `image.sha384`. */
export function metadataSha384(bytes: Uint8Array): string {
  return createHash('sha384').update(bytes).digest('hex');
}

/**
 * Decodes metadata.json the way Trident does: UTF-8, JSON, then the version alone (so a 2.x
 * document of any shape gets a version error), then the whole shape. Any failure here is fatal for
 * every profile; value rules come later.
 */
export function parseMetadataBytes(bytes: Uint8Array): MetadataParseResult {
  const findings = new FindingList();
  if (bytes.length > MAX_METADATA_BYTES) {
    findings.error(
      'COSI_METADATA_TOO_LARGE',
      '',
      `metadata.json is ${bytes.length} bytes; at most ${MAX_METADATA_BYTES} (16 MiB) are accepted`,
    );
    return { ok: false, findings };
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    findings.error('COSI_METADATA_NOT_UTF8', '', 'metadata.json is not valid UTF-8');
    return { ok: false, findings };
  }
  const deep = findExcessiveNesting(text);
  if (deep !== -1) {
    findings.error(
      'COSI_METADATA_TOO_DEEP',
      '',
      `metadata.json nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep (at character ${deep}); Trident's JSON reader refuses that depth`,
    );
    return { ok: false, findings };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    findings.error(
      'COSI_METADATA_NOT_JSON',
      '',
      `metadata.json is not valid JSON: ${(error as Error).message}`,
    );
    return { ok: false, findings };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    findings.error('COSI_METADATA_NOT_OBJECT', '', 'metadata.json must hold a JSON object');
    return { ok: false, findings };
  }
  const rawVersion = (json as Record<string, unknown>)['version'];
  if (typeof rawVersion !== 'string') {
    findings.error(
      'COSI_VERSION_FORMAT',
      'version',
      'version is required and must be a string "MAJOR.MINOR" such as "1.2"',
    );
    return { ok: false, findings };
  }
  const version = parseVersion(rawVersion);
  if (!version) {
    findings.error(
      'COSI_VERSION_FORMAT',
      'version',
      `version "${rawVersion}" is not in the form "MAJOR.MINOR" (e.g. "1.2")`,
    );
    return { ok: false, findings };
  }
  if (version.major !== 1) {
    findings.error(
      'COSI_VERSION_UNSUPPORTED',
      'version',
      `COSI version ${rawVersion} is not supported: this reader understands 1.x (1.0 to 1.2, later minors with the 1.2 rules)`,
    );
    return { ok: false, findings };
  }
  const parsed = parseShape(json as Record<string, unknown>);
  if (!parsed.ok) {
    for (const issue of parsed.issues) {
      const path = jsonPath(...issue.path);
      findings.error(
        issue.missing ? 'COSI_FIELD_REQUIRED' : 'COSI_FIELD_INVALID',
        path,
        issue.missing ? `${path} is required` : `${path || 'metadata'}: ${issue.message}`,
      );
    }
    for (const { path, count } of parsed.unchecked) {
      findings.warn(
        'COSI_CHECK_STOPPED',
        jsonPath(...path),
        `${count} more element(s) of ${jsonPath(...path)} were not checked: the shape check stops after ${MAX_FINDINGS} findings`,
      );
    }
    return { ok: false, findings };
  }
  return { ok: true, metadata: parsed.data, version, scan: scanJson(text) };
}
