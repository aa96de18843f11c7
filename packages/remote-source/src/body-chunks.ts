import { finished } from 'node:stream';
import type { Dispatcher } from 'undici';

export type ResponseBody = Dispatcher.ResponseData['body'];

/**
 * Bytes of a response body read ahead of the consumer before the socket is paused. Enough to keep
 * the connection busy while one chunk is hashed, decoded and written; the body's own buffer
 * (undici's 64 KiB high-water mark) and the kernel's socket buffer come on top.
 */
export const BODY_READ_AHEAD_BYTES = 256 * 1024;

/**
 * The chunks of a response body exactly as the socket delivered them, with at most
 * `readAheadBytes` queued ahead of the consumer (the body is paused above that, resumed below).
 *
 * Not the stream's own async iterator: that calls `read()`, which concatenates everything buffered
 * into a new Buffer whenever the consumer is slower than the network (a disk, a decoder), so each
 * chunk was copied once more and the originals left for the garbage collector: 20–45 MiB of dead
 * ArrayBuffers at the peak of a stream-disk (`pnpm bench:memory`). Here every chunk is the socket's
 * own buffer, which the consumer may release once it has copied it (see `releaseChunk`).
 *
 * Ends when the body ends; throws what the body fails with (a destroy with an error, a socket
 * error, a premature close as Node reports it). Returning early leaves the body to its owner, who
 * discards it.
 */
export async function* bodyChunks(
  body: ResponseBody,
  readAheadBytes = BODY_READ_AHEAD_BYTES,
): AsyncGenerator<Uint8Array> {
  const queue: Uint8Array[] = [];
  let head = 0;
  let queued = 0;
  let ended = false;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const onData = (chunk: Uint8Array) => {
    queue.push(chunk);
    queued += chunk.length;
    if (queued >= readAheadBytes) body.pause();
    notify();
  };
  body.on('data', onData);
  const stopWatching = finished(body, (error) => {
    if (error) failure ??= { error };
    else ended = true;
    notify();
  });
  try {
    for (;;) {
      if (head < queue.length) {
        const chunk = queue[head]!;
        queue[head++] = EMPTY;
        if (head === queue.length) {
          queue.length = 0;
          head = 0;
        }
        queued -= chunk.length;
        if (queued < readAheadBytes && body.isPaused() && !body.destroyed) body.resume();
        yield chunk;
        continue;
      }
      if (failure) throw failure.error;
      if (ended) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    body.off('data', onData);
    stopWatching();
  }
}

const EMPTY = new Uint8Array(0);
