import { createHash } from 'node:crypto';
import { RemoteSourceError } from './errors.ts';

/**
 * Digest algorithms this package can verify, with their lowercase-hex lengths. image-spec
 * registers sha256 and sha512; go-digest (distribution) also accepts sha384.
 */
export const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

/**
 * True for `algorithm:hex` with a known algorithm and exactly its length of lowercase hex. Anything
 * else (`sha256:../../etc`, upper case, a short hex) must never reach a URL path or a hasher.
 */
export function isDigest(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const colon = value.indexOf(':');
  const want = DIGEST_HEX_LENGTH[value.slice(0, colon)];
  const hex = value.slice(colon + 1);
  return colon > 0 && want !== undefined && hex.length === want && /^[0-9a-f]+$/.test(hex);
}

/** Why `value` is not a digest, for messages. */
export function digestProblem(value: unknown): string {
  return `${JSON.stringify(value)?.slice(0, 100) ?? String(value)} is not a digest: expected sha256: + 64, sha384: + 96 or sha512: + 128 lowercase hex digits`;
}

/** Streaming check of a whole object against a digest (`algo:hex`, already validated). */
export function digestHasher(digest: string, label: string) {
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const expected = digest.slice(colon + 1);
  const hash = createHash(algorithm);
  return {
    update(chunk: Uint8Array) {
      hash.update(chunk);
    },
    verify() {
      const actual = hash.digest('hex');
      if (actual !== expected) {
        throw new RemoteSourceError(
          'REMOTE_DIGEST_MISMATCH',
          `${label}: content digest is ${algorithm}:${actual}, expected ${digest}; the registry or its storage served corrupt or different bytes`,
          { url: label },
        );
      }
    },
  };
}
