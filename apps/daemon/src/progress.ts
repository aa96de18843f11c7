/**
 * Turns the engine's structured progress events into Trident-style progress log lines, at most
 * one per phase and image every `intervalMs`, plus the line that reaches 100 %.
 */
import type { EngineEvent } from '@trident/engine';
import { formatBytes } from '@trident/units';

export type ProgressEvent = Extract<EngineEvent, { type: 'progress' }>;

export function formatProgress(event: ProgressEvent): string {
  const pct = event.total > 0 ? Math.min(100, Math.floor((event.bytes / event.total) * 100)) : 100;
  const what = event.image === undefined ? event.phase : `${event.phase} ${event.image}`;
  const rate = event.rate > 0 ? ` at ${formatBytes(event.rate)}/s` : '';
  const eta = event.eta !== undefined && event.bytes < event.total ? `, ETA ${Math.ceil(event.eta)}s` : '';
  return `Progress: ${what}: ${pct}% (${formatBytes(event.bytes)} of ${formatBytes(event.total)})${rate}${eta}`;
}

export function createProgressThrottle(intervalMs = 500): (event: ProgressEvent) => string | undefined {
  const last = new Map<string, { time: number; done: boolean }>();
  return (event) => {
    const key = `${event.phase}\u0000${event.image ?? ''}`;
    const done = event.total > 0 ? event.bytes >= event.total : true;
    const prev = last.get(key);
    if (prev?.done) return undefined;
    if (prev !== undefined && !done && event.time - prev.time < intervalMs) return undefined;
    last.set(key, { time: event.time, done });
    return formatProgress(event);
  };
}
