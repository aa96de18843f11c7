/**
 * Durations: the one grammar people write them in and the one form they are shown in.
 *
 * The grammar is humantime's, as Trident's `--inactivity-timeout` takes it: one or more parts of a
 * number and a unit (`ms`, `s`/`sec`, `m`/`min`, `h`), such as `300s`, `5m`, `1h30m` or `500ms`;
 * a bare number is seconds, and numbers may have decimals (`1.5h`). Units are lowercase because
 * humantime gives `M` another meaning (months). Command lines of our own tools read durations
 * through the same parser with `relaxed`, which also takes uppercase units and `none`/`off` for 0.
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000 };
const BARE_SECONDS = /^\d+(?:\.\d+)?$/u;
// Longer units first, so `ms` is not read as `m` followed by garbage.
const PART = /\s*(\d+(?:\.\d+)?)\s*(ms|sec|min|s|m|h)/uy;

export interface DurationGrammar {
  /** Also uppercase units, and `none` or `off` meaning 0 (our own command lines). */
  relaxed?: boolean;
}

/** Milliseconds for a duration string; `undefined` when it is not one. */
export function parseDuration(text: string, grammar: DurationGrammar = {}): number | undefined {
  let trimmed = text.trim();
  if (grammar.relaxed === true) {
    trimmed = trimmed.toLowerCase();
    if (trimmed === 'none' || trimmed === 'off') return 0;
  }
  if (BARE_SECONDS.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  if (trimmed === '') return undefined;
  const part = new RegExp(PART);
  let total = 0;
  let end = 0;
  for (let match = part.exec(trimmed); match !== null; match = part.exec(trimmed)) {
    total += Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? Number.NaN);
    end = part.lastIndex;
  }
  if (end !== trimmed.length || !Number.isFinite(total)) return undefined;
  const ms = Math.round(total);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** `500 ms`, `90 s`, `10 min`, `1.5 h`: a duration for people to read. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${+(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${+(ms / 60_000).toFixed(1)} min`;
  return `${+(ms / 3_600_000).toFixed(1)} h`;
}
