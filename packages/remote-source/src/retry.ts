import { RemoteSourceError } from './errors.ts';
import type { RetryOptions } from './types.ts';

export type ResolvedRetry = Required<RetryOptions>;

export const DEFAULT_RETRY: ResolvedRetry = {
  attempts: 6,
  maxResumes: 100,
  baseDelayMs: 100,
  maxDelayMs: 10_000,
};

export function resolveRetry(options: RetryOptions | undefined): ResolvedRetry {
  return { ...DEFAULT_RETRY, ...options };
}

/**
 * Exponential backoff with jitter for the n-th consecutive failure (1-based): half the window
 * fixed, half random, so many hosts failing together do not retry in lock step (Trident doubles
 * from 10 ms without jitter).
 */
export function backoffDelay(
  failure: number,
  retry: ResolvedRetry,
  random: () => number = Math.random,
): number {
  const window = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** Math.max(0, failure - 1));
  return Math.round(window / 2 + random() * (window / 2));
}

/** `Retry-After` as milliseconds (delta-seconds or HTTP-date), or undefined when absent/invalid. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** A failure worth retrying: transport errors, stalls, short bodies, 408/429/5xx. */
export class TransientFailure extends Error {
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(reason: string, options: { status?: number; retryAfterMs?: number; cause?: unknown } = {}) {
    super(reason, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export function abortedError(
  url: string,
  signal: AbortSignal | undefined,
  offset?: number,
): RemoteSourceError {
  return new RemoteSourceError('REMOTE_ABORTED', `reading ${url} was aborted`, {
    url,
    cause: signal?.reason,
    ...(offset === undefined ? {} : { offset }),
  });
}

/** Sleeps `ms`, rejecting with REMOTE_ABORTED if the signal fires first. */
export function sleep(ms: number, signal: AbortSignal | undefined, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortedError(url, signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(url, signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A short human description of a foreign error (undici codes included). */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
