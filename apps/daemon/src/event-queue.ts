/**
 * A single-consumer queue between a running operation and the response stream of its client.
 * When the client goes away the queue is detached: later items are dropped instead of piling up
 * (the operation keeps running, as in Trident, unless cancellation on disconnect is enabled).
 */
export class EventQueue<T> {
  #items: T[] = [];
  #closed = false;
  #detached = false;
  #wake: (() => void) | undefined;

  get detached(): boolean {
    return this.#detached;
  }

  push(item: T): boolean {
    if (this.#closed || this.#detached) return false;
    this.#items.push(item);
    this.#notify();
    return true;
  }

  close(): void {
    this.#closed = true;
    this.#notify();
  }

  detach(): void {
    this.#detached = true;
    this.#items = [];
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Yields items until the queue is closed and drained, or `signal` aborts (then detaches). */
  async *drain(signal: AbortSignal): AsyncGenerator<T> {
    const onAbort = () => this.detach();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        if (signal.aborted || this.#detached) return;
        const item = this.#items.shift();
        if (item !== undefined) {
          yield item;
          continue;
        }
        if (this.#closed) return;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}
