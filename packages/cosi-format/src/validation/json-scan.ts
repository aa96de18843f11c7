import { jsonPath } from './findings.ts';

export interface JsonScan {
  /** Paths of object members whose key repeats an earlier key of the same object. */
  duplicateKeys: string[];
  /** Paths of numbers written with a fraction or exponent (`1.0`, `1e3`): not integers to Trident. */
  nonIntegerNumbers: string[];
}

/**
 * Walks JSON text that `JSON.parse` already accepted, to see what `JSON.parse` hides: repeated
 * keys (serde rejects them, JSON.parse keeps the last) and how numbers were spelled (serde's u64
 * rejects `1.0`, JSON.parse turns it into 1).
 */
export function scanJson(text: string): JsonScan {
  const duplicateKeys: string[] = [];
  const nonIntegerNumbers: string[] = [];
  let i = 0;
  const path: Array<string | number> = [];

  const skipWhitespace = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const readString = (): string => {
    const start = i;
    i++; // opening quote
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): void => {
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
      while (true) {
        skipWhitespace();
        const key = readString();
        path.push(key);
        if (seen.has(key)) duplicateKeys.push(jsonPath(...path));
        seen.add(key);
        skipWhitespace();
        i++; // colon
        value();
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
      for (let index = 0; ; index++) {
        path.push(index);
        value();
        path.pop();
        skipWhitespace();
        if (text[i++] === ']') return;
      }
    } else if (c === '"') {
      readString();
    } else {
      const start = i;
      while (i < text.length && !',]} \t\n\r'.includes(text[i]!)) i++;
      const token = text.slice(start, i);
      if (/^-?\d/u.test(token) && /[.eE]/u.test(token)) nonIntegerNumbers.push(jsonPath(...path));
    }
  };
  value();
  return { duplicateKeys, nonIntegerNumbers };
}
