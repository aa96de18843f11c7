/**
 * Finds zstd frame boundaries in a byte stream without decoding (RFC 8878 §3.1): skippable
 * frames are dropped, data frames are passed on piece by piece with start and end marks. The JS
 * fallbacks need this because `node:zlib` stops after the first frame (a skippable prefix hides
 * the whole image) and simple-zstd passes non-zstd input through unchanged; it also gives them
 * truncation detection and the window check the addon does.
 */
import { ZstdError } from './errors.ts';

export interface Piece {
  bytes: Uint8Array;
  /** First bytes of a data frame. */
  start: boolean;
  /** Last bytes of a data frame (may come with empty `bytes`). */
  end: boolean;
  /** On `start` pieces: where the frame begins in the compressed stream. */
  offset?: number;
}

const ZSTD_MAGIC = 0xfd2fb528;

type State = 'magic' | 'skiphead' | 'skip' | 'header' | 'block' | 'body' | 'checksum';

export class Framer {
  private state: State = 'magic';
  private head = new Uint8Array(18);
  private have = 0;
  private need = 5;
  private remaining = 0;
  private last = false;
  private checksum = false;
  /** Compressed bytes seen so far. */
  position = 0;
  frames = 0;

  private readonly maxWindowLog: number;

  constructor(maxWindowLog: number) {
    this.maxWindowLog = maxWindowLog;
  }

  atBoundary(): boolean {
    return this.state === 'magic' && this.have === 0;
  }

  push(chunk: Uint8Array): Piece[] {
    const out: Piece[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'skip' || this.state === 'body' || this.state === 'checksum') {
        const take = Math.min(this.remaining, chunk.length - i);
        if (this.state !== 'skip') out.push({ bytes: chunk.subarray(i, i + take), start: false, end: false });
        i += take;
        this.position += take;
        this.remaining -= take;
        if (this.remaining === 0) this.afterBody(out);
        continue;
      }
      const take = Math.min(this.need - this.have, chunk.length - i);
      this.head.set(chunk.subarray(i, i + take), this.have);
      this.have += take;
      i += take;
      this.position += take;
      if (this.have === this.need) this.onHead(out);
    }
    return out;
  }

  private u32(at: number): number {
    return (
      (this.head[at]! |
        (this.head[at + 1]! << 8) |
        (this.head[at + 2]! << 16) |
        (this.head[at + 3]! << 24)) >>>
      0
    );
  }

  private onHead(out: Piece[]): void {
    const at = this.position - this.have;
    if (this.state === 'skiphead') {
      this.state = 'skip';
      this.remaining = this.u32(4);
      this.have = 0;
      if (this.remaining === 0) this.reset();
      return;
    }
    if (this.state === 'magic') {
      const magic = this.u32(0);
      if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
        this.state = 'skiphead';
        this.need = 8;
        return;
      }
      if (magic !== ZSTD_MAGIC) {
        throw new ZstdError(
          'ZSTD_CORRUPT_FRAME',
          `zstd data is corrupt near compressed byte ${at}: Unknown frame descriptor`,
          { position: at },
        );
      }
      const fhd = this.head[4]!;
      const single = (fhd >> 5) & 1;
      const fcsFlag = fhd >> 6;
      const fcs = [single ? 1 : 0, 2, 4, 8][fcsFlag]!;
      const did = [0, 1, 2, 4][fhd & 3]!;
      if (fhd & 0x08) {
        throw new ZstdError(
          'ZSTD_CORRUPT_FRAME',
          `zstd frame header at compressed byte ${at} has its reserved bit set`,
          { position: at },
        );
      }
      this.checksum = (fhd & 0x04) !== 0;
      this.state = 'header';
      // Always more than the 5 bytes held: a header has a window descriptor or a content size.
      this.need = 5 + (single ? 0 : 1) + did + fcs;
      return;
    }
    if (this.state === 'header') {
      this.checkWindow(at);
      out.push({ bytes: this.head.slice(0, this.need), start: true, end: false, offset: at });
      this.frames++;
      this.blockHeader();
      return;
    }
    // state 'block': a 3-byte block header (RFC 8878 §3.1.1.2).
    const h = this.head[0]! | (this.head[1]! << 8) | (this.head[2]! << 16);
    out.push({ bytes: this.head.slice(0, 3), start: false, end: false });
    this.last = (h & 1) === 1;
    const type = (h >> 1) & 3;
    const size = h >>> 3;
    if (type === 3) {
      throw new ZstdError(
        'ZSTD_CORRUPT_FRAME',
        `zstd data is corrupt near compressed byte ${at}: reserved block type`,
        { position: at },
      );
    }
    this.state = 'body';
    this.remaining = type === 1 ? 1 : size;
    this.have = 0;
    if (this.remaining === 0) this.afterBody(out);
  }

  private checkWindow(at: number): void {
    const fhd = this.head[4]!;
    let window: number;
    if ((fhd >> 5) & 1) {
      const did = [0, 1, 2, 4][fhd & 3]!;
      const fcs = [1, 2, 4, 8][fhd >> 6]!;
      let v = 0;
      for (let k = fcs - 1; k >= 0; k--) v = v * 256 + this.head[5 + did + k]!;
      window = fcs === 2 ? v + 256 : v;
    } else {
      const wd = this.head[5]!;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    if (window > 2 ** this.maxWindowLog) {
      throw new ZstdError(
        'ZSTD_WINDOW_TOO_LARGE',
        `a zstd frame at compressed byte ${at} needs a ${window}-byte window, more than 2^${this.maxWindowLog}; ` +
          'raise maxWindowLog (COSI compression.maxWindowLog) if the image is trusted',
        { position: at },
      );
    }
  }

  private blockHeader(): void {
    this.state = 'block';
    this.have = 0;
    this.need = 3;
  }

  private afterBody(out: Piece[]): void {
    if (this.state === 'skip') {
      this.reset();
    } else if (this.state === 'body' && !this.last) {
      this.blockHeader();
    } else if (this.state === 'body' && this.checksum) {
      this.state = 'checksum';
      this.remaining = 4;
    } else {
      out.push({ bytes: new Uint8Array(0), start: false, end: true });
      this.reset();
    }
  }

  private reset(): void {
    this.state = 'magic';
    this.have = 0;
    this.need = 5;
  }
}

/** One data frame of a zstd stream: where it starts and its compressed bytes. */
export interface ZstdFrame {
  /** Offset of the frame in the compressed stream. */
  offset: number;
  /** The frame's bytes, streamed; consumed before the next frame is asked for (else drained). */
  data: AsyncIterable<Uint8Array>;
}

/**
 * The data frames of a zstd stream, one by one, for decoders that take a single frame
 * (`node:zlib` stops after the first). Skippable frames (the seek table, Image Customizer's prefix)
 * are dropped; frame headers are checked as `Framer` does (window against `maxWindowLog`, reserved
 * bits); a stream that ends inside a frame is `ZSTD_CORRUPT_FRAME`.
 */
export async function* splitZstdFrames(
  input: AsyncIterable<Uint8Array>,
  maxWindowLog: number,
): AsyncGenerator<ZstdFrame> {
  const framer = new Framer(maxWindowLog);
  const source = input[Symbol.asyncIterator]();
  let pending: Piece[] = [];
  let ended = false;
  const next = async (): Promise<Piece | undefined> => {
    while (pending.length === 0) {
      if (ended) return undefined;
      const result = await source.next();
      if (result.done) {
        ended = true;
        if (!framer.atBoundary()) {
          throw new ZstdError(
            'ZSTD_CORRUPT_FRAME',
            `zstd data is truncated: the stream ends inside a frame at compressed byte ${framer.position}`,
            { position: framer.position },
          );
        }
        return undefined;
      }
      pending = framer.push(result.value);
    }
    return pending.shift();
  };
  for (;;) {
    const first = await next();
    if (first === undefined) return;
    let consumed = false;
    const data = (async function* () {
      yield first.bytes;
      for (let piece = first; !piece.end; ) {
        const following = await next();
        if (following === undefined) return;
        piece = following;
        if (piece.bytes.length > 0) yield piece.bytes;
      }
      consumed = true;
    })();
    yield { offset: first.offset ?? 0, data };
    // A caller that stops early must not leave the splitter mid-frame.
    if (!consumed) for await (const _ of data);
  }
}
