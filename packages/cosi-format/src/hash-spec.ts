import { CosiError } from './errors.ts';

/** An expected metadata hash: `ignored` (no check, as Trident), or a SHA-384 in lowercase hex. */
export type ExpectedSha384 = { kind: 'ignored' } | { kind: 'sha384'; hex: string };

/**
 * Accepts the spellings users meet: `ignored` (Host Configuration and gRPC), bare 96-digit hex
 * (Host Configuration), and `sha384:<hex>` (gRPC StreamDisk). Hex is case-insensitive.
 */
export function parseSha384Spec(text: string): ExpectedSha384 {
  const value = text.trim();
  if (value === 'ignored') return { kind: 'ignored' };
  const hex = value.startsWith('sha384:') ? value.slice('sha384:'.length) : value;
  if (!/^[0-9a-fA-F]{96}$/u.test(hex)) {
    throw new CosiError(
      'COSI_HASH_FORMAT',
      `"${text}" is not a SHA-384 hash: expected "ignored", 96 hexadecimal digits, or "sha384:" followed by them`,
    );
  }
  return { kind: 'sha384', hex: hex.toLowerCase() };
}

export function formatSha384(hex: string): string {
  return `sha384:${hex}`;
}
