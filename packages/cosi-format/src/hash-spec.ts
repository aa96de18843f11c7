import { CosiError } from './errors.ts';

/**
 * An expected metadata hash: `ignored` (no check, as Trident), or the text after `sha384:`,
 * lowercased. `hex` is 96 hexadecimal digits when the spec was well formed; Trident takes whatever
 * follows the prefix, so anything else can never match and fails as a mismatch when the metadata is read.
 */
export type ExpectedSha384 = { kind: 'ignored' } | { kind: 'sha384'; hex: string };

/** Trident's `ImageSha384::new` message for anything but `ignored` or `sha384:…` (UnsupportedHashKind). */
export function unsupportedHashKindMessage(text: string): string {
  return `Hash '${text}' has unsupported hash kind. Expected 'ignored' or 'sha384:' prefix.`;
}

/**
 * The one parser of image hash specs: StreamDisk's `imageHash`, `stream-disk --hash`, `cosi
 * validate --sha384`, and what the engine is handed. As Trident's `ImageSha384::new`: exactly
 * `ignored`, or `sha384:` followed by the hash (lowercased); anything else, bare hex included, is
 * `COSI_HASH_FORMAT` with Trident's UnsupportedHashKind message. Bare hex is the Host
 * Configuration's spelling (`image.sha384`), which host-config parses; pass it here as
 * `formatSha384(hex)`.
 */
export function parseSha384Spec(text: string): ExpectedSha384 {
  if (text === 'ignored') return { kind: 'ignored' };
  if (text.startsWith('sha384:')) return { kind: 'sha384', hex: text.slice('sha384:'.length).toLowerCase() };
  throw new CosiError('COSI_HASH_FORMAT', unsupportedHashKindMessage(text));
}

/** Whether an expected hash could ever match a SHA-384 (96 hexadecimal digits). */
export function isWellFormedSha384(hex: string): boolean {
  return /^[0-9a-f]{96}$/u.test(hex);
}

/** The spec spelling of a hex digest: `sha384:<hex>`. */
export function formatSha384(hex: string): string {
  return `sha384:${hex}`;
}
