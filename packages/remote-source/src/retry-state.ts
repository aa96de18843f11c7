import { createHash } from 'node:crypto';
import { publish } from './diagnostics.ts';
import { RemoteSourceError } from './errors.ts';
import {
  abortedError,
  backoffDelay,
  describeError,
  type ResolvedRetry,
  sleep,
  TransientFailure,
} from './retry.ts';

/** What a retry budget needs to know about the object it reads. */
export interface RetryTarget {
  readonly label: string;
  readonly closed: boolean;
  readonly client: { readonly options: { readonly retry: ResolvedRetry } };
}

/**
 * Counts failures of one operation. Progress (a new byte) resets the consecutive count; every
 * retry counts against `maxResumes`, so a server that always fails after a few bytes still ends.
 */
export class RetryState {
  readonly #object: RetryTarget;
  readonly #what: string;
  readonly #signal: AbortSignal | undefined;
  readonly #offset: () => number | undefined;
  #failures = 0;
  #resumes = 0;

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
  }

  get resumes(): number {
    return this.#resumes;
  }

  progress(): void {
    this.#failures = 0;
  }

  /** Throws if the source was closed or the operation aborted. */
  check(): void {
    const object = this.#object;
    if (object.closed)
      throw new RemoteSourceError('REMOTE_CLOSED', `${object.label} was closed; open it again`, {
        url: object.label,
      });
    if (this.#signal?.aborted) throw abortedError(object.label, this.#signal, this.#offset());
  }

  /** Rethrows permanent errors; for transient ones waits the backoff, or throws when the budget is spent. */
  async fail(err: unknown): Promise<void> {
    const object = this.#object;
    const signal = this.#signal;
    if (err instanceof RemoteSourceError) throw err;
    if (signal?.aborted) throw abortedError(object.label, signal, this.#offset());
    const retry = object.client.options.retry;
    this.#failures++;
    this.#resumes++;
    const reason = describeError(err);
    const status = err instanceof TransientFailure ? err.status : undefined;
    const offset = this.#offset();
    if (this.#failures > retry.attempts || this.#resumes > retry.maxResumes) {
      throw new RemoteSourceError(
        'REMOTE_RETRIES_EXHAUSTED',
        `${this.#what} ${object.label} failed after ${this.#resumes - 1} retries (${this.#failures} failures in a row without progress)` +
          `${offset === undefined ? '' : ` at byte ${offset}`}; last error: ${reason}. ` +
          'Check the network or server, or raise retry.attempts / retry.maxResumes',
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
      attempt: this.#resumes,
      delayMs,
      reason,
      status,
      resumeOffset: offset,
    });
    await sleep(delayMs, signal, object.label);
    this.check();
  }
}

/** Streaming SHA-256/384/512 check of a whole object against an OCI digest (`algo:hex`). */
export function digestHasher(digest: string, label: string) {
  const [algorithm, expected] = digest.split(':');
  const hash = createHash(algorithm ?? 'sha256');
  return {
    update(chunk: Uint8Array) {
      hash.update(chunk);
    },
    verify() {
      const actual = hash.digest('hex');
      if (actual !== expected) {
        throw new RemoteSourceError(
          'REMOTE_DIGEST_MISMATCH',
          `${label}: content digest is ${algorithm}:${actual}, expected ${digest}; the registry or its storage served corrupt or different bytes`,
          { url: label },
        );
      }
    },
  };
}
