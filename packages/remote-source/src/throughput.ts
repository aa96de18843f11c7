import { formatBytes, formatDuration } from '@trident/units';
import { bodyChunks, type ResponseBody } from './body-chunks.ts';
import { TransientFailure } from './retry.ts';

export type { ResponseBody } from './body-chunks.ts';

export interface ThroughputLimits {
  /** Bytes per second; 0 disables the check. */
  minBytesPerSecond: number;
  windowMs: number;
}

/** The server is sending, but below the minimum throughput: resumed like a stall. */
export class SlowTransferFailure extends TransientFailure {}

/**
 * Bytes that count as progress (reset the consecutive-failure count): what the minimum throughput
 * asks for in one window. A server that trickles or stalls after a few bytes every time therefore
 * runs out of attempts instead of earning a fresh count with each dribble.
 */
export function progressThreshold(limits: ThroughputLimits): number {
  return Math.max(1, Math.floor((limits.minBytesPerSecond * limits.windowMs) / 1000));
}

/**
 * Iterates a response body, enforcing the minimum throughput (curl's low-speed limit, averaged):
 * only the time spent *waiting for the server* counts, so a slow consumer (a disk, a decompressor)
 * never looks like a slow server. When a window's worth of waiting brought fewer bytes than
 * `minBytesPerSecond * window`, the body is destroyed and the iteration throws a
 * SlowTransferFailure naming the measured rate and the limit.
 */
export async function* watchThroughput(
  body: ResponseBody,
  limits: ThroughputLimits,
  url: string,
): AsyncGenerator<Uint8Array> {
  // The socket's own chunks, read ahead within a byte budget (body-chunks.ts).
  const iterator = bodyChunks(body);
  if (limits.minBytesPerSecond <= 0) {
    try {
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    } finally {
      await iterator.return(undefined);
    }
    return;
  }
  const threshold = (limits.minBytesPerSecond * limits.windowMs) / 1000;
  let bytes = 0;
  let waited = 0;
  let waitingSince: number | undefined;
  let failure: SlowTransferFailure | undefined;
  /** Closes the window when it is full; stalls when it brought too little. */
  const evaluate = (now: number): void => {
    const total = waited + (waitingSince === undefined ? 0 : now - waitingSince);
    if (total < limits.windowMs) return;
    if (bytes < threshold) {
      const rate = Math.round((bytes * 1000) / total);
      failure = new SlowTransferFailure(
        `throughput ${formatBytes(rate, { compact: true })}/s over the last ${formatDuration(Math.round(total))} is below the minimum ` +
          `${formatBytes(limits.minBytesPerSecond, { compact: true })}/s (minBytesPerSecond ${limits.minBytesPerSecond} over ` +
          `throughputWindowMs ${limits.windowMs}, CLI --min-throughput/--throughput-window) from ${url}`,
      );
      body.destroy(failure);
      return;
    }
    bytes = 0;
    waited = 0;
    if (waitingSince !== undefined) waitingSince = now;
  };
  // One coarse timer per body, not one per chunk: the check only needs to land within a window.
  const timer = setInterval(() => evaluate(performance.now()), Math.max(10, limits.windowMs / 4));
  timer.unref();
  try {
    for (;;) {
      waitingSince = performance.now();
      let next: IteratorResult<Uint8Array>;
      try {
        next = await iterator.next();
      } catch (err) {
        throw failure ?? err;
      }
      const now = performance.now();
      waited += now - waitingSince;
      waitingSince = undefined;
      if (next.done) return;
      bytes += next.value.length;
      evaluate(now);
      if (failure) throw failure;
      yield next.value;
    }
  } finally {
    clearInterval(timer);
    await iterator.return(undefined);
  }
}
