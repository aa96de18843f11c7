import type { ByteSource } from '../byte-source.ts';
import { CosiError } from '../errors.ts';
import { BLOCK } from '../tar/header.ts';
import {
  type FindingList,
  toReport,
  type ValidationProfile,
  type ValidationReport,
} from '../validation/findings.ts';
import { validateCosiContext } from '../validation/validate.ts';
import { MAX_METADATA_BYTES, metadataSha384, parseMetadataBytes } from './parse.ts';

/**
 * Whether the first bytes of an input are JSON text (a bare metadata.json) rather than a tar
 * archive. Decided by content, never by file name: optional UTF-8 BOM and whitespace, then `{`,
 * and the first block is not a tar header (a tar header's checksum field verifies; JSON text
 * never has one at offset 148).
 */
export function isJsonDocument(head: Uint8Array): boolean {
  let i = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x09 || head[i] === 0x0a || head[i] === 0x0d))
    i++;
  if (head[i] !== 0x7b) return false;
  return !(head.length >= BLOCK && hasTarChecksum(head.subarray(0, BLOCK)));
}

function hasTarChecksum(block: Uint8Array): boolean {
  const field = new TextDecoder('latin1')
    .decode(block.subarray(148, 156))
    .replace(/[\0 ]+$/u, '')
    .trim();
  if (!/^[0-7]+$/u.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === Number.parseInt(field, 8);
}

/** A metadata.json read on its own. */
export interface MetadataDocument {
  bytes: Uint8Array;
  /** SHA-384 of the bytes: what `image.sha384` pins. */
  sha384: string;
}

/**
 * Reads a whole source as a bare metadata.json, refusing more than MAX_METADATA_BYTES before
 * reading anything (COSI_METADATA_TOO_LARGE).
 */
export async function readMetadataDocument(
  source: ByteSource,
  options: { signal?: AbortSignal } = {},
): Promise<MetadataDocument> {
  if (source.size > MAX_METADATA_BYTES) {
    throw new CosiError(
      'COSI_METADATA_TOO_LARGE',
      `${source.url}: ${source.size} bytes is larger than a metadata.json may be (at most ${MAX_METADATA_BYTES}, 16 MiB)`,
    );
  }
  const bytes = await source.read(0, source.size, options.signal ? { signal: options.signal } : {});
  return { bytes, sha384: metadataSha384(bytes) };
}

/**
 * Validates a metadata.json without its archive: the metadata rules of the profile, with the
 * container and GPT rules (which need the tar and the images) left out. Metadata that cannot be
 * parsed gives an invalid report with the parse findings, like a COSI file would.
 */
export function validateMetadataDocument(bytes: Uint8Array, profile: ValidationProfile): ValidationReport {
  const parsed = parseMetadataBytes(bytes);
  if (!parsed.ok) return toReport(profile, parsed.findings as FindingList);
  return validateCosiContext(
    { parsed: { metadata: parsed.metadata, version: parsed.version, scan: parsed.scan } },
    profile,
  );
}
