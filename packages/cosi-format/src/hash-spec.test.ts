import { describe, expect, it } from 'vitest';
import { isCosiError } from './errors.ts';
import { formatSha384, parseSha384Spec } from './hash-spec.ts';

const hex = 'ab'.repeat(48);

describe('parseSha384Spec (one parser for StreamDisk, stream-disk --hash, cosi validate --sha384)', () => {
  it('takes ignored and sha384:<hex>, lowercasing the hex', () => {
    expect(parseSha384Spec('ignored')).toEqual({ kind: 'ignored' });
    expect(parseSha384Spec(`sha384:${hex.toUpperCase()}`)).toEqual({ kind: 'sha384', hex });
    expect(parseSha384Spec(formatSha384(hex))).toEqual({ kind: 'sha384', hex });
  });

  it.each([hex, 'IGNORED', ' ignored', `sha256:${hex}`, `SHA384:${hex}`, ''])(
    "refuses %j with Trident's UnsupportedHashKind message",
    (text) => {
      let error: unknown;
      try {
        parseSha384Spec(text);
      } catch (e) {
        error = e;
      }
      expect(isCosiError(error, 'COSI_HASH_FORMAT')).toBe(true);
      expect((error as Error).message).toBe(
        `Hash '${text}' has unsupported hash kind. Expected 'ignored' or 'sha384:' prefix.`,
      );
    },
  );

  it('keeps a malformed prefixed hash: it fails later, as a mismatch, like Trident', () => {
    expect(parseSha384Spec('sha384:xyz')).toEqual({ kind: 'sha384', hex: 'xyz' });
  });
});
