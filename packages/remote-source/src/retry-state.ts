import { publish } from './diagnostics.ts';
import { RemoteSourceError } from './errors.ts';
import { backoffDelay, describeError, type ResolvedRetry, sleep, TransientFailure } from './retry.ts';
import type { SourceBudget } from './source-budget.ts';
import { progressThreshold, SlowTransferFailure, type ThroughputLimits } from './throughput.ts';

/** What a retry budget needs to know about the object it reads. */
export interface RetryTarget {
  readonly label: string;
  readonly closed: boolean;
  readonly client: {
    readonly options: { readonly retry: ResolvedRetry; readonly throughput: ThroughputLimits };
    readonly budget: SourceBudget;
  };
}

/**
 * Counts failures of one operation. `retry.attempts` bounds failures in a row, and only real
 * progress (a window's worth of bytes at the minimum throughput) resets that count; every retry
 * also spends the source's budget (`retry.maxResumes`, shared by all its reads), and the source's
 * deadline bounds the whole. So neither a trickle nor a stall-after-every-few-bytes loop can go on.
 */
export class RetryState {
  readonly #object: RetryTarget;
  readonly #what: string;
  readonly #signal: AbortSignal | undefined;
  readonly #offset: () => number | undefined;
  readonly #threshold: number;
  #failures = 0;
  #sinceFailure = 0;

  constructor(
    object: RetryTarget,
    what: string,
    signal: AbortSignal | undefined,
    offset: () => number | undefined,
  ) {
    this.#object = object;
    this.#what = what;
    this.#signal = signal;
    this.#offset = offset;
    this.#threshold = progressThreshold(object.client.options.throughput);
  }

  /** `bytes` new bytes arrived; enough of them since the last failure clear the failure count. */
  progress(bytes = 1): void {
    this.#sinceFailure += bytes;
    if (this.#sinceFailure >= this.#threshold) this.#failures = 0;
  }

  /** Throws if the source was closed, the operation aborted or the deadline passed. */
  check(): void {
    const object = this.#object;
    if (object.closed)
      throw new RemoteSourceError('REMOTE_CLOSED', `${object.label} was closed; open it again`, {
        url: object.label,
      });
    if (this.#signal?.aborted || object.client.budget.expired)
      throw object.client.budget.abortError(this.#signal, object.label, this.#offset());
  }

  /** Rethrows permanent errors; for transient ones waits the backoff, or throws when a budget is spent. */
  async fail(err: unknown): Promise<void> {
    const object = this.#object;
    const budget = object.client.budget;
    const signal = this.#signal;
    if (err instanceof RemoteSourceError) throw err;
    this.check();
    const retry = object.client.options.retry;
    this.#failures++;
    this.#sinceFailure = 0;
    const withinBudget = budget.spend();
    const reason = describeError(err);
    const status = err instanceof TransientFailure ? err.status : undefined;
    const offset = this.#offset();
    if (this.#failures > retry.attempts || !withinBudget) {
      const slow = err instanceof SlowTransferFailure;
      const spent = withinBudget
        ? `${this.#failures} failures in a row without progress (retry.attempts ${retry.attempts})`
        : `the source's retry budget is spent (${budget.resumes - 1} retries over all its reads, retry.maxResumes ${retry.maxResumes})`;
      throw new RemoteSourceError(
        slow ? 'REMOTE_TOO_SLOW' : 'REMOTE_RETRIES_EXHAUSTED',
        `${this.#what} ${object.label} failed: ${spent}` +
          `${offset === undefined ? '' : `, at byte ${offset}`}; last error: ${reason}. ` +
          (slow
            ? 'The server is too slow: use a closer mirror, or lower the minimum throughput'
            : 'Check the network or server, or raise retry.attempts / retry.maxResumes'),
        {
          url: object.label,
          cause: err,
          ...(status === undefined ? {} : { status }),
          ...(offset === undefined ? {} : { offset }),
        },
      );
    }
    const backoff = backoffDelay(this.#failures, retry);
    const retryAfter = err instanceof TransientFailure ? err.retryAfterMs : undefined;
    const delayMs =
      retryAfter === undefined ? backoff : Math.min(retry.maxDelayMs, Math.max(retryAfter, backoff));
    publish.retry({
      url: object.label,
      attempt: budget.resumes,
      delayMs,
      reason,
      status,
      resumeOffset: offset,
    });
    try {
      await sleep(delayMs, budget.link(signal), object.label);
    } catch {
      throw budget.abortError(signal, object.label, offset);
    }
    this.check();
  }
}
