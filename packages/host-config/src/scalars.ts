/**
 * zod building blocks that apply serde_yaml's scalar rules (reference §0, §7) to the values produced
 * by `yaml-source.ts`, and that tag their failures with a stable code. A custom message is written as
 * `CODE::text`; `issues.ts` splits it back.
 */

import { BYTE_COUNT_TEXT, parseByteCount } from '@trident/units';
import * as z from 'zod';
import type { HostConfigCode } from './codes.ts';
import { EMPTY, PlainScalar } from './yaml-source.ts';

export const coded = (code: HostConfigCode, message: string): string => `${code}::${message}`;

const show = (value: unknown): string => {
  if (value instanceof PlainScalar) return `\`${value.text}\``;
  if (typeof value === 'string') return `\`${value}\``;
  if (value === null || value === EMPTY) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  return `\`${String(value)}\``;
};

export { show as showValue };

/** Plain scalars keep their literal text in string-typed fields (`0755` stays `"0755"`). */
const literalText = (v: unknown): unknown => (v instanceof PlainScalar ? v.text : v);
const nativeBool = (v: unknown): unknown =>
  v instanceof PlainScalar && typeof v.value === 'boolean' ? v.value : v;
const INTEGER_TEXT = /^[-+]?(\d+|0x[0-9a-fA-F]+|0o[0-7]+)$/;
/** Integer-typed fields take YAML integers only; `1.0` or `1e3` stay text and fail. */
const nativeNumber = (v: unknown): unknown =>
  v instanceof PlainScalar
    ? typeof v.value === 'number' && INTEGER_TEXT.test(v.text.trim())
      ? v.value
      : v.text
    : v;

export const str = () => z.preprocess(literalText, z.string());

/** true/True/TRUE/false/False/FALSE only; `yes`, `on` and quoted `"true"` are not booleans. */
export const bool = () => z.preprocess(nativeBool, z.boolean());

export const uint = (max: number) => z.preprocess(nativeNumber, z.number().int().min(0).max(max));
export const int32 = () =>
  z.preprocess(
    nativeNumber,
    z
      .number()
      .int()
      .min(-(2 ** 31))
      .max(2 ** 31 - 1),
  );

export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.preprocess(literalText, z.enum(values));

/** `Option<T>`: missing, `null`, `~` or an empty value all mean absent. */
export const opt = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === null || v === EMPTY ? undefined : v), schema.optional()).optional();

/** A list; an empty value is `[]`, an explicit `null` is an error (serde_yaml 0.9 quirk). */
export const list = <T extends z.ZodType>(item: T) =>
  z.preprocess((v) => (v === EMPTY ? [] : v), z.array(item));

/** `#[serde(default)] Vec<T>`: may be missing. */
export const defList = <T extends z.ZodType>(item: T) => list(item).default([]);

/** A map of string to T; an empty value is `{}`. */
export const dict = <T extends z.ZodType>(value: T) =>
  z.preprocess((v) => (v === EMPTY ? {} : v), z.record(z.string(), value));

/** An object that rejects unknown keys; the issue message carries the list of known keys. */
export const struct = <S extends z.core.$ZodLooseShape>(shape: S) => {
  const expected = Object.keys(shape)
    .map((k) => `\`${k}\``)
    .join(', ');
  return z.preprocess(
    (v) => (v === EMPTY ? {} : v),
    z.strictObject(shape, {
      error: (iss) => (iss.code === 'unrecognized_keys' ? coded('HC_UNKNOWN_FIELD', expected) : undefined),
    }),
  );
};

// --- sizes (reference §2 ByteCount / PartitionSize) ---

const sizeMessage = (input: unknown, allowGrow: boolean): string =>
  coded(
    'HC_INVALID_SIZE',
    `invalid size ${show(input)}: write ${allowGrow ? '`grow`, ' : ''}a whole number of bytes, or digits with an uppercase unit K, M, G or T (powers of 1024), e.g. \`512M\` or \`8G\``,
  );

/** Partition size: `grow` or a byte count; the output is `'grow'` or bytes. */
export const partitionSize = () =>
  z.preprocess(
    nativeNumber,
    z
      .union([z.literal('grow'), z.number().int().min(0), z.string().regex(BYTE_COUNT_TEXT)], {
        error: (iss) => sizeMessage(iss.input, true),
      })
      .refine((v) => v === 'grow' || parseByteCount(v) !== undefined, {
        error: (iss) => sizeMessage(iss.input, true),
      })
      .transform((v): 'grow' | number => (v === 'grow' ? 'grow' : (parseByteCount(v) ?? 0))),
  );

// --- hashes, URLs, UUIDs ---

const SHA384 = /^(ignored|[0-9a-fA-F]{96})$/;
export const sha384 = (allowIgnored = true) =>
  z.preprocess(
    literalText,
    z
      .string()
      .regex(allowIgnored ? SHA384 : /^[0-9a-fA-F]{96}$/, {
        error: (iss) =>
          coded(
            'HC_INVALID_HASH',
            `invalid SHA-384 ${show(iss.input)}${typeof iss.input === 'string' && /^[0-9a-fA-F]*$/.test(iss.input) ? ` (${iss.input.length} characters)` : ''}: write 96 hexadecimal characters${allowIgnored ? ' or `ignored` to skip the check' : ''}`,
          ),
      })
      .transform((v) => v.toLowerCase()),
  );

export const url = () =>
  z.preprocess(
    literalText,
    z.string().refine((v) => URL.canParse(v), {
      error: (iss) =>
        coded(
          'HC_INVALID_URL',
          `invalid URL ${show(iss.input)}: write an absolute URL with a scheme, e.g. \`https://example.com/os.cosi\` or \`file:///srv/os.cosi\``,
        ),
    }),
  );

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
export const isUuid = (v: string): boolean => UUID.test(v);
export const uuid = () =>
  z.preprocess(
    literalText,
    z.string().regex(UUID, {
      error: (iss) =>
        coded(
          'HC_INVALID_UUID',
          `invalid UUID ${show(iss.input)}: write 32 hexadecimal digits as 8-4-4-4-12, e.g. \`4f68bce3-e8cd-4db1-96e7-fbcaf984b709\``,
        ),
    }),
  );
