/**
 * Byte sizes: the one grammar people write them in and the one form they are shown in.
 *
 * The grammar is the Host Configuration's ByteCount (reference §2): a non-negative integer of bytes,
 * or digits with an optional uppercase unit K, M, G or T (powers of 1024), spaces allowed around and
 * between them (`" 300 K "`), a leading `+` tolerated as Rust's `u64::parse` does. Command lines read
 * sizes through the same parser with `relaxed`, which also takes what people type there: lowercase
 * units and a `B`/`iB` suffix (`8GiB`, `512mb`, still powers of 1024), and with `fractions` a decimal
 * number (`1.5K`, rounded to whole bytes).
 */

/** A ByteCount string as Host Configuration accepts it. */
export const BYTE_COUNT_TEXT = /^\s*\+?(\d+)\s*([KMGT]?)\s*$/;
const RELAXED_TEXT = /^\s*\+?(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/iu;
const SHIFT: Record<string, number> = { '': 0, K: 10, M: 20, G: 30, T: 40 };

export interface ByteCountGrammar {
  /** Also lowercase units and a `B`/`iB` suffix (command lines). */
  relaxed?: boolean;
  /** Also a decimal number, rounded to whole bytes (with `relaxed`; rates such as `1.5K`). */
  fractions?: boolean;
}

/** Bytes for a ByteCount string or integer; `undefined` when it is not one. */
export function parseByteCount(value: unknown, grammar: ByteCountGrammar = {}): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = (grammar.relaxed === true ? RELAXED_TEXT : BYTE_COUNT_TEXT).exec(value);
  if (match === null) return undefined;
  const digits = match[1] ?? '';
  if (digits.includes('.') && grammar.fractions !== true) return undefined;
  const bytes = Math.round(Number(digits) * 2 ** (SHIFT[(match[2] ?? '').toUpperCase()] ?? 0));
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export interface FormatBytesOptions {
  /**
   * At most one decimal, left out when it is zero, at every magnitude (`64 KiB`, `1.5 MiB`,
   * `150.5 MiB`): error messages, where a limit reads best as it was set.
   */
  compact?: boolean;
}

/**
 * A byte count for people to read, in binary units. By default one decimal below 100 and none from
 * 100 on, so columns of progress keep their width: `512 B`, `1.5 MiB`, `64.0 MiB`, `512 GiB`.
 */
export function formatBytes(bytes: number, options: FormatBytesOptions = {}): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${bytes} B`;
  const digits = options.compact === true ? String(+value.toFixed(1)) : value.toFixed(value >= 100 ? 0 : 1);
  return `${digits} ${UNITS[unit]}`;
}
