/**
 * The `key value` line format of Boot Loader Specification type #1 entries
 * (`loader/entries/*.conf`) and of systemd-boot's `loader/loader.conf`: one key per line, the value
 * after the first run of whitespace, `#` comments. Edits keep comments, unknown keys and the order
 * of lines, so a rewritten file differs from the image's only where it must.
 */
import { BootConfigError } from '../errors.ts';

export interface BlsLine {
  /** Undefined for comments and blank lines (kept verbatim in `raw`). */
  key?: string;
  value?: string;
  raw: string;
}

export interface BlsFile {
  path: string;
  lines: BlsLine[];
}

export function parseBlsFile(text: string, path: string): BlsFile {
  const lines: BlsLine[] = [];
  const rows = text.replace(/\r\n/gu, '\n').split('\n');
  if (rows.at(-1) === '') rows.pop();
  rows.forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) {
      lines.push({ raw });
      return;
    }
    const match = /^([A-Za-z0-9_-]+)(?:\s+(.*?))?\s*$/u.exec(trimmed);
    if (match === null)
      throw new BootConfigError(
        'BOOTCFG_CONFIG_INVALID',
        `${path} line ${index + 1}: ${JSON.stringify(raw)} is not "key value"`,
        { path },
      );
    lines.push({ key: match[1]!, value: match[2] ?? '', raw });
  });
  return { path, lines };
}

export function serializeBlsFile(file: BlsFile): string {
  return `${file.lines.map((l) => (l.key === undefined ? l.raw : `${l.key} ${l.value ?? ''}`.trimEnd())).join('\n')}\n`;
}

export function blsValues(file: BlsFile, key: string): string[] {
  return file.lines.filter((l) => l.key === key).map((l) => l.value ?? '');
}

/** The last value of `key` (systemd-boot takes the last of repeated single-value keys). */
export function blsValue(file: BlsFile, key: string): string | undefined {
  return blsValues(file, key).at(-1);
}

/**
 * Sets `key` to one value: the first line with that key gets it and the others go (systemd-boot
 * joins repeated `options` lines, so one line holds the whole command line); appended when absent.
 */
export function setBlsValue(file: BlsFile, key: string, value: string): BlsFile {
  const first = file.lines.findIndex((l) => l.key === key);
  if (first < 0) return { ...file, lines: [...file.lines, { key, value, raw: '' }] };
  const lines = file.lines.flatMap((l, i) => {
    if (l.key !== key) return [l];
    return i === first ? [{ key, value, raw: '' }] : [];
  });
  return { ...file, lines };
}
