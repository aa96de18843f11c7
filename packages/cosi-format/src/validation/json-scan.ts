import { jsonPath } from './findings.ts';

/**
 * serde_json's default recursion limit, so Trident refuses metadata nested deeper than this
 * ("recursion limit exceeded"). Real metadata is five levels deep.
 */
export const MAX_JSON_DEPTH = 128;

/** How many paths of each kind a scan records; the rest are only counted. */
export const MAX_SCAN_PATHS = 1000;

export interface JsonScan {
  /** Paths of object members whose key repeats an earlier key of the same object (first ones). */
  duplicateKeys: string[];
  /** How many repeated keys there are in all (`duplicateKeys` holds at most MAX_SCAN_PATHS). */
  duplicateKeyCount: number;
  /** Paths of numbers written with a fraction or exponent (`1.0`, `1e3`): not integers to Trident. */
  nonIntegerNumbers: string[];
  nonIntegerCount: number;
}

/**
 * Where JSON text first nests deeper than `limit` arrays and objects, or -1. A linear pass that
 * only tracks strings and brackets, so it is safe on any text (valid JSON or not) and runs before
 * anything recursive sees the document.
 */
export function findExcessiveNesting(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > limit) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return -1;
}

/**
 * Walks JSON text that `JSON.parse` already accepted, to see what `JSON.parse` hides: repeated
 * keys (serde rejects them, JSON.parse keeps the last) and how numbers were spelled (serde's u64
 * rejects `1.0`, JSON.parse turns it into 1). Records at most MAX_SCAN_PATHS paths of each kind and
 * counts the rest, and never descends past MAX_JSON_DEPTH (callers refuse deeper text first).
 */
export function scanJson(text: string): JsonScan {
  const scan: JsonScan = {
    duplicateKeys: [],
    duplicateKeyCount: 0,
    nonIntegerNumbers: [],
    nonIntegerCount: 0,
  };
  let i = 0;
  const path: Array<string | number> = [];

  const skipWhitespace = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const skipString = (): number => {
    const start = i;
    i++; // opening quote
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return start;
  };
  const readKey = (): string => JSON.parse(text.slice(skipString(), i)) as string;
  /** Steps over one value without looking inside it (only reached past MAX_JSON_DEPTH). */
  const skipValue = (): void => {
    skipWhitespace();
    let depth = 0;
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') skipString();
      else {
        if (c === '[' || c === '{') depth++;
        else if (c === ']' || c === '}') {
          if (depth === 0) return;
          depth--;
        } else if (c === ',' && depth === 0) return;
        i++;
      }
    }
  };
  const value = (depth: number): void => {
    skipWhitespace();
    const c = text[i];
    if (c === '{') {
      i++;
      const seen = new Set<string>();
      skipWhitespace();
      if (text[i] === '}') {
        i++;
        return;
      }
      while (i < text.length) {
        skipWhitespace();
        const key = readKey();
        path.push(key);
        if (seen.has(key)) {
          scan.duplicateKeyCount++;
          if (scan.duplicateKeys.length < MAX_SCAN_PATHS) scan.duplicateKeys.push(jsonPath(...path));
        }
        seen.add(key);
        skipWhitespace();
        i++; // colon
        if (depth < MAX_JSON_DEPTH) value(depth + 1);
        else skipValue();
        path.pop();
        skipWhitespace();
        if (text[i++] === '}') return;
      }
    } else if (c === '[') {
      i++;
      skipWhitespace();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (let index = 0; i < text.length; index++) {
        path.push(index);
        if (depth < MAX_JSON_DEPTH) value(depth + 1);
        else skipValue();
        path.pop();
        skipWhitespace();
        if (text[i++] === ']') return;
      }
    } else if (c === '"') {
      skipString();
    } else {
      const start = i;
      let fraction = false;
      while (i < text.length && !',]} \t\n\r'.includes(text[i]!)) {
        const d = text[i]!;
        if (d === '.' || d === 'e' || d === 'E') fraction = true;
        i++;
      }
      // `true`/`false`/`null` have an `e`: only numbers (starting with a digit or minus) count.
      const first = text[start];
      if (fraction && first !== undefined && (first === '-' || (first >= '0' && first <= '9'))) {
        scan.nonIntegerCount++;
        if (scan.nonIntegerNumbers.length < MAX_SCAN_PATHS) scan.nonIntegerNumbers.push(jsonPath(...path));
      }
    }
  };
  value(1);
  return scan;
}
