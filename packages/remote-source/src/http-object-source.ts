import type { HttpObject } from './http-object.ts';
import { checkBounds, collect } from './read-helpers.ts';
import type { RandomAccessSource, ReadOptions } from './types.ts';

/**
 * What every source over one HTTP object shares: its printable URL, size and validator come from
 * the object learned at open, and `read` collects a `stream`. The subclasses differ only in how
 * they stream: Range requests (`RangeSource`) or one forward response (`SequentialSource`).
 */
export abstract class HttpObjectSource implements RandomAccessSource {
  abstract readonly mode: 'random' | 'sequential';
  protected readonly object: HttpObject;

  constructor(object: HttpObject) {
    this.object = object;
  }

  get url(): string {
    return this.object.label;
  }
  get size(): number {
    return this.object.size;
  }
  get etag(): string | undefined {
    return this.object.etag;
  }

  read(offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    return collect(this, offset, length, options);
  }

  async *stream(offset: number, length: number, options: ReadOptions = {}): AsyncGenerator<Uint8Array> {
    checkBounds(this.object.label, this.object.size, offset, length);
    if (length === 0) return;
    yield* this.streamRange(offset, length, options);
  }

  /** Streams `length` > 0 bytes from `offset`, both already checked against the object. */
  protected abstract streamRange(
    offset: number,
    length: number,
    options: ReadOptions,
  ): AsyncGenerator<Uint8Array>;
  abstract close(): Promise<void>;
}
