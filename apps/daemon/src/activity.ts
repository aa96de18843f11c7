/**
 * Inactivity shutdown: counts open requests (HTTP/2 streams) and the running operation; when both
 * are zero for `timeoutMs` the daemon stops. Unlike Trident the timer is also armed at start-up,
 * so a socket-activated daemon that is never called still exits.
 */
export class ActivityTracker {
  readonly #timeoutMs: number;
  readonly #onIdle: () => void;
  #requests = 0;
  #servicing = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(timeoutMs: number, onIdle: () => void) {
    this.#timeoutMs = timeoutMs;
    this.#onIdle = onIdle;
    this.#arm();
  }

  requestStarted(): void {
    this.#requests += 1;
    this.#disarm();
  }

  requestEnded(): void {
    this.#requests = Math.max(0, this.#requests - 1);
    this.#arm();
  }

  setServicing(active: boolean): void {
    this.#servicing = active;
    if (active) this.#disarm();
    else this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    this.#disarm();
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    this.#disarm();
    if (this.#stopped || this.#timeoutMs <= 0 || this.#requests > 0 || this.#servicing) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#stopped && this.#requests === 0 && !this.#servicing) this.#onIdle();
    }, this.#timeoutMs);
  }
}
