import type { HttpObject } from './http-object.ts';
import { collect } from './read-helpers.ts';
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

  abstract stream(offset: number, length: number, options?: ReadOptions): AsyncGenerator<Uint8Array>;
  abstract close(): Promise<void>;
}
