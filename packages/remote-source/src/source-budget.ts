import { formatDuration } from '@trident/units';
import { RemoteSourceError } from './errors.ts';
import { abortedError } from './retry.ts';

/** 24 h: a COSI of hundreds of GiB still fits on a slow link; a hostile server cannot hold a run forever. */
export const DEFAULT_TIMEOUT_MS = 24 * 60 * 60 * 1000;

/**
 * What one source (or one push) may spend, whatever its reads do: the overall deadline and the
 * retry budget. Both are per source, not per read: a server that stalls after a few bytes on every
 * request, or answers one byte a second, cannot renew them by making the caller start a new read.
 * One budget lives in each `HttpClient`; a source makes its own client, so it is per source.
 */
export class SourceBudget {
  readonly timeoutMs: number;
  readonly maxResumes: number;
  /** Printable name of what is being read (URL or oci:// reference), for the deadline error. */
  readonly label: string;
  readonly #controller = new AbortController();
  readonly #timer: ReturnType<typeof setTimeout> | undefined;
  #resumes = 0;

  constructor(label: string, timeoutMs: number, maxResumes: number) {
    this.label = label;
    this.timeoutMs = timeoutMs;
    this.maxResumes = maxResumes;
    if (timeoutMs > 0) {
      this.#timer = setTimeout(() => this.#controller.abort(this.#timeoutError()), timeoutMs);
      // The deadline must never keep a process alive on its own.
      this.#timer.unref();
    }
  }

  /** Aborts when the deadline passes; its reason is the REMOTE_TIMEOUT error. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get expired(): boolean {
    return this.#controller.signal.aborted;
  }

  get resumes(): number {
    return this.#resumes;
  }

  /** Counts one retry; false when the per-source budget is spent. */
  spend(): boolean {
    this.#resumes++;
    return this.#resumes <= this.maxResumes;
  }

  /**
   * The caller's signal and the deadline as one signal for a request or a wait. Always a fresh
   * dependent signal: many requests then never pile listeners onto the one deadline signal.
   */
  link(signal: AbortSignal | undefined): AbortSignal | undefined {
    if (this.timeoutMs <= 0) return signal;
    return AbortSignal.any(signal === undefined ? [this.signal] : [signal, this.signal]);
  }

  /** The error for an abort: REMOTE_TIMEOUT when the deadline fired, else REMOTE_ABORTED. */
  abortError(signal: AbortSignal | undefined, label: string, offset?: number): RemoteSourceError {
    if (this.expired && !signal?.aborted) return this.#timeoutError(offset);
    return abortedError(label, signal, offset);
  }

  /** Throws the deadline error once it has passed. */
  check(offset?: number): void {
    if (this.expired) throw this.#timeoutError(offset);
  }

  #timeoutError(offset?: number): RemoteSourceError {
    return new RemoteSourceError(
      'REMOTE_TIMEOUT',
      `${this.label} did not finish within its overall deadline of ${formatDuration(this.timeoutMs)} ` +
        `(timeoutMs ${this.timeoutMs}, CLI --timeout)${offset === undefined ? '' : `; stopped at byte ${offset}`}: ` +
        'the server is too slow or keeps stalling; use a closer mirror or raise the deadline',
      { url: this.label, ...(offset === undefined ? {} : { offset }) },
    );
  }

  dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }
}
