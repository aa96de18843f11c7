// How long a piece of hostile-input test code ran and how much the process grew meanwhile: a
// safety bound a test asserts (the client stayed bounded), not a benchmark.

export interface ResourceUse<T> {
  /** What `run` resolved to, or the error it threw. */
  result: { ok: true; value: T } | { ok: false; error: unknown };
  elapsedMs: number;
  /** Highest resident-set growth seen while `run` ran (sampled every 5 ms), in bytes. */
  peakRssGrowth: number;
  /** Highest growth of V8 heap plus ArrayBuffers (where response bodies live), in bytes. */
  peakHeapGrowth: number;
}

/**
 * Runs `run` and reports how long it took and how much memory the process grew meanwhile, so a
 * hostile-input test can assert the client stayed bounded (not a benchmark: a safety bound).
 */
export async function trackResources<T>(run: () => Promise<T>): Promise<ResourceUse<T>> {
  const heap = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const rss0 = process.memoryUsage().rss;
  const heap0 = heap();
  let peakRss = 0;
  let peakHeap = 0;
  const sample = () => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss - rss0);
    peakHeap = Math.max(peakHeap, heap() - heap0);
  };
  const timer = setInterval(sample, 5);
  const started = performance.now();
  let result: ResourceUse<T>['result'];
  try {
    result = { ok: true, value: await run() };
  } catch (error) {
    result = { ok: false, error };
  } finally {
    clearInterval(timer);
  }
  sample();
  return { result, elapsedMs: performance.now() - started, peakRssGrowth: peakRss, peakHeapGrowth: peakHeap };
}
