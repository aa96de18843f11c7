import { DaemonError } from './errors.ts';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/**
 * Parses a humantime-style duration (`300s`, `5m`, `1h30m`, `500ms`; a bare number is seconds),
 * the format of Trident's `--inactivity-timeout`. Returns milliseconds.
 */
export function parseDuration(text: string, option: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const re = /(\d+(?:\.\d+)?)\s*(ms|sec|min|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(trimmed); m !== null; m = re.exec(trimmed)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
    matched = re.lastIndex;
  }
  if (trimmed === '' || matched !== trimmed.length || !Number.isFinite(total))
    throw new DaemonError(
      'DAEMON_INVALID_OPTION',
      `${option}: '${text}' is not a duration; use e.g. 300s, 5m, 1h30m or 0 to disable.`,
    );
  return Math.round(total);
}
