import { discard } from './body-limit.ts';
import { publish } from './diagnostics.ts';
import { RemoteSourceError } from './errors.ts';
import { header, type SendResponse } from './http-client.ts';
import { HttpObjectSource } from './http-object-source.ts';
import { TransientFailure } from './retry.ts';
import { watchThroughput } from './throughput.ts';
import type { ReadOptions } from './types.ts';

/**
 * For servers without Range support (Python's http.server, some object stores): one GET without
 * Range, consumed forward. A COSI can be read in tar order, so a reader that only moves forward
 * never pays more than one download. A read behind the cursor, or a fault, starts a new GET from
 * byte 0 and skips to where it is needed (validator checked, so versions never mix).
 * Operations are served one at a time.
 */
export class SequentialSource extends HttpObjectSource {
  readonly mode = 'sequential';
  #response: SendResponse | undefined;
  #iterator: AsyncIterator<Uint8Array> | undefined;
  /** Object offset of the first byte in `#pending`, or of the next byte the response will give. */
  #cursor = 0;
  #pending: Uint8Array | undefined;
  #queue: Promise<void> = Promise.resolve();

  protected override async *streamRange(
    offset: number,
    length: number,
    options: ReadOptions,
  ): AsyncGenerator<Uint8Array> {
    let release!: () => void;
    const previous = this.#queue;
    this.#queue = new Promise((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      yield* this.#forward(offset, offset + length, options.signal);
    } finally {
      release();
    }
  }

  async *#forward(offset: number, end: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
    const object = this.object;
    let position = offset;
    let furthest = this.#cursor;
    const retry = object.retries('GET', signal, () => position);
    if (this.#response && offset < this.#cursor) {
      publish.warning({
        url: object.label,
        code: 'SEQUENTIAL_REWIND',
        message: `read at ${offset} is behind the stream position ${this.#cursor}: downloading again from byte 0`,
      });
      this.#drop();
    }
    while (position < end) {
      retry.check();
      try {
        if (!this.#iterator) await this.#open(signal);
        const chunk = await this.#next(position);
        if (this.#cursor + chunk.length > furthest) {
          retry.progress(this.#cursor + chunk.length - furthest);
          furthest = this.#cursor + chunk.length;
        }
        const from = position - this.#cursor;
        if (from >= chunk.length) {
          this.#cursor += chunk.length;
          continue;
        }
        const take = Math.min(chunk.length - from, end - position);
        const piece = chunk.subarray(from, from + take);
        const rest = chunk.subarray(from + take);
        this.#cursor = position + take;
        this.#pending = rest.length > 0 ? rest : undefined;
        position += take;
        publish.progress({ url: object.label, offset, length: end - offset, delivered: position - offset });
        yield piece;
      } catch (err) {
        this.#drop();
        await retry.fail(err);
      }
    }
  }

  async #open(signal: AbortSignal | undefined): Promise<void> {
    const object = this.object;
    const response = await object.get(undefined, signal);
    if (response.status !== 200) {
      if (response.status === 206) {
        discard(response.body);
        throw new RemoteSourceError(
          'REMOTE_BAD_CONTENT_RANGE',
          `GET ${object.label} without Range answered 206`,
          {
            url: object.label,
            status: 206,
          },
        );
      }
      await object.failStatus(response, 'GET');
    }
    object.checkSame(response, 0);
    const length = header(response.headers, 'content-length');
    if (length !== undefined && Number(length) !== object.size) {
      discard(response.body);
      throw object.changedError(`size ${object.size} became ${length}`, 0, 200);
    }
    this.#response = response;
    this.#iterator = watchThroughput(response.body, object.client.options.throughput, object.label);
    this.#cursor = 0;
    this.#pending = undefined;
  }

  /** The next buffered chunk, starting at `#cursor`. */
  async #next(position: number): Promise<Uint8Array> {
    if (this.#pending) {
      const chunk = this.#pending;
      this.#pending = undefined;
      return chunk;
    }
    const next = await this.#iterator!.next();
    if (next.done) {
      throw new TransientFailure(
        `short body: the response ended at byte ${this.#cursor}, wanted byte ${position}`,
      );
    }
    return next.value;
  }

  #drop(): void {
    if (this.#response) discard(this.#response.body);
    // Ends the throughput watcher (its timer) when it is parked at a yield.
    this.#iterator?.return?.(undefined).catch(() => undefined);
    this.#response = undefined;
    this.#iterator = undefined;
    this.#pending = undefined;
    this.#cursor = 0;
  }

  override async close(): Promise<void> {
    this.#drop();
    await this.object.close();
  }
}
