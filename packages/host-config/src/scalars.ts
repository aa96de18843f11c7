/**
 * zod building blocks that apply serde_yaml's scalar rules (reference §0, §7) to the values produced
 * by `yaml-source.ts`, and that tag their failures with a stable code. A custom message is written as
 * `CODE::text`; `issues.ts` splits it back.
 *
 * Built on `zod/mini`, not classic `zod`: classic attaches its dozens of methods as closures to every
 * schema instance (~13 KB for a `z.string()`, ~62 KB for an `opt(str())`), and the Host Configuration
 * schema has hundreds of them, alive for a whole `trident install`. Mini shares the core (same
 * parsing, same issue objects); only the chaining sugar is gone, so it is spelled as functions here.
 */

import { BYTE_COUNT_TEXT, parseByteCount } from '@trident/units';
import * as z from 'zod/mini';
import type { HostConfigCode } from './codes.ts';
import { EMPTY, PlainScalar } from './yaml-source.ts';

// Classic zod installs the English messages when it is imported; mini leaves every message at
// "Invalid input". `issues.ts` falls back to zod's message for issues it does not phrase itself, so
// install them unless the process already chose a locale.
if (z.config().localeError === undefined) z.config(z.locales.en());

/** Classic's `z.preprocess(fn, schema)`, which is exactly this pipe; mini has no `preprocess`. */
export const preprocess = <A, U extends z.core.SomeType, B = unknown>(
  fn: (arg: B) => A,
  schema: U,
): z.ZodMiniPipe<z.ZodMiniTransform<A, B>, U> =>
  // Classic casts here too: `pipe`'s bounds cannot relate a generic U to the transform's output.
  z.pipe(z.transform(fn), schema as never) as unknown as z.ZodMiniPipe<z.ZodMiniTransform<A, B>, U>;

/** Classic's `schema.transform(fn)`: a pipe into a transform that gets the schema's output. */
export const transformed = <T extends z.core.SomeType, O>(
  schema: T,
  fn: (arg: z.output<T>) => O,
): z.ZodMiniPipe<T, z.ZodMiniTransform<Awaited<O>, z.output<T>>> => z.pipe(schema, z.transform(fn));

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

export const str = () => preprocess(literalText, z.string());

/** true/True/TRUE/false/False/FALSE only; `yes`, `on` and quoted `"true"` are not booleans. */
export const bool = () => preprocess(nativeBool, z.boolean());

export const uint = (max: number) =>
  preprocess(nativeNumber, z.number().check(z.int(), z.minimum(0), z.maximum(max)));
export const int32 = () =>
  preprocess(nativeNumber, z.number().check(z.int(), z.minimum(-(2 ** 31)), z.maximum(2 ** 31 - 1)));

export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  preprocess(literalText, z.enum(values));

/** `Option<T>`: missing, `null`, `~` or an empty value all mean absent. */
export const opt = <T extends z.ZodMiniType>(schema: T) =>
  z.optional(preprocess((v) => (v === null || v === EMPTY ? undefined : v), z.optional(schema)));

/** A list; an empty value is `[]`, an explicit `null` is an error (serde_yaml 0.9 quirk). */
export const list = <T extends z.ZodMiniType>(item: T) =>
  preprocess((v) => (v === EMPTY ? [] : v), z.array(item));

/** `#[serde(default)] Vec<T>`: may be missing. */
export const defList = <T extends z.ZodMiniType>(item: T) => z._default(list(item), []);

/** A map of string to T; an empty value is `{}`. */
export const dict = <T extends z.ZodMiniType>(value: T) =>
  preprocess((v) => (v === EMPTY ? {} : v), z.record(z.string(), value));

/** An object that rejects unknown keys; the issue message carries the list of known keys. */
export const struct = <S extends z.core.$ZodLooseShape>(shape: S) => {
  const expected = Object.keys(shape)
    .map((k) => `\`${k}\``)
    .join(', ');
  return preprocess(
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
  preprocess(
    nativeNumber,
    transformed(
      z
        .union(
          [
            z.literal('grow'),
            z.number().check(z.int(), z.minimum(0)),
            z.string().check(z.regex(BYTE_COUNT_TEXT)),
          ],
          { error: (iss) => sizeMessage(iss.input, true) },
        )
        .check(
          z.refine((v) => v === 'grow' || parseByteCount(v) !== undefined, {
            error: (iss) => sizeMessage(iss.input, true),
          }),
        ),
      (v): 'grow' | number => (v === 'grow' ? 'grow' : (parseByteCount(v) ?? 0)),
    ),
  );

// --- hashes, URLs, UUIDs ---

const SHA384 = /^(ignored|[0-9a-fA-F]{96})$/;
export const sha384 = (allowIgnored = true) =>
  preprocess(
    literalText,
    transformed(
      z.string().check(
        z.regex(allowIgnored ? SHA384 : /^[0-9a-fA-F]{96}$/, {
          error: (iss) =>
            coded(
              'HC_INVALID_HASH',
              `invalid SHA-384 ${show(iss.input)}${typeof iss.input === 'string' && /^[0-9a-fA-F]*$/.test(iss.input) ? ` (${iss.input.length} characters)` : ''}: write 96 hexadecimal characters${allowIgnored ? ' or `ignored` to skip the check' : ''}`,
            ),
        }),
      ),
      (v) => v.toLowerCase(),
    ),
  );

export const url = () =>
  preprocess(
    literalText,
    z.string().check(
      z.refine((v) => URL.canParse(v), {
        error: (iss) =>
          coded(
            'HC_INVALID_URL',
            `invalid URL ${show(iss.input)}: write an absolute URL with a scheme, e.g. \`https://example.com/os.cosi\` or \`file:///srv/os.cosi\``,
          ),
      }),
    ),
  );

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
export const isUuid = (v: string): boolean => UUID.test(v);
export const uuid = () =>
  preprocess(
    literalText,
    z.string().check(
      z.regex(UUID, {
        error: (iss) =>
          coded(
            'HC_INVALID_UUID',
            `invalid UUID ${show(iss.input)}: write 32 hexadecimal digits as 8-4-4-4-12, e.g. \`4f68bce3-e8cd-4db1-96e7-fbcaf984b709\``,
          ),
      }),
    ),
  );
