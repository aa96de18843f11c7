import type { EngineEvent } from '../../types.ts';

type ProgressPhase = Extract<EngineEvent, { type: 'progress' }>['phase'];

/**
 * Turns byte counts into progress events with a rate over a sliding window (so a stall shows as a
 * falling rate, not a lifetime average) and an ETA, emitting at most every `intervalMs`.
 */
export class ProgressTracker {
  private readonly samples: Array<[number, number]> = [];
  private lastEmit = 0;
  private bytes = 0;
  private readonly phase: ProgressPhase;
  private readonly total: number;
  private readonly image: string | undefined;
  private readonly emit: (event: EngineEvent) => void;
  private readonly intervalMs: number;

  constructor(options: {
    phase: ProgressPhase;
    total: number;
    image?: string;
    emit: (event: EngineEvent) => void;
    intervalMs?: number;
  }) {
    this.phase = options.phase;
    this.total = options.total;
    this.image = options.image;
    this.emit = options.emit;
    this.intervalMs = options.intervalMs ?? 250;
  }

  add(bytes: number): void {
    this.bytes += bytes;
    const now = performance.now();
    this.samples.push([now, this.bytes]);
    while (this.samples.length > 2 && now - this.samples[0]![0] > 3000) this.samples.shift();
    if (now - this.lastEmit >= this.intervalMs) this.flush(now);
  }

  /** Emits the final (or current) state regardless of the interval. */
  flush(now = performance.now()): void {
    this.lastEmit = now;
    const first = this.samples[0];
    const elapsed = first ? (now - first[0]) / 1000 : 0;
    const rate = first && elapsed > 0 ? (this.bytes - first[1]) / elapsed : 0;
    const event: EngineEvent = {
      type: 'progress',
      time: Date.now(),
      phase: this.phase,
      bytes: this.bytes,
      total: this.total,
      rate,
      ...(this.image === undefined ? {} : { image: this.image }),
      ...(rate > 0 ? { eta: Math.max(0, (this.total - this.bytes) / rate) } : {}),
    };
    this.emit(event);
  }
}
