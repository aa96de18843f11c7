/**
 * Loaded into each measured `trident` run with `--import` (`pnpm bench:memory --breakdown`): samples
 * where the process's memory is every 10 ms and writes the peaks to `$TRIDENT_MEMORY_PROBE` (JSON)
 * at exit. What it reports (MiB, each the peak of its own series):
 *  - anon / file: `/proc/self/status` RssAnon (what a memory cgroup charges: V8 heap, malloc arenas,
 *    array buffers) and RssFile (the mapped Node binary and the target pages the in-place decoder
 *    has mapped; shared, clean page cache);
 *  - binary: the part of RssFile that is the Node binary's own mappings (`/proc/self/smaps`,
 *    sampled every 100 ms: it is long), so file - binary is mostly the target;
 *  - heap / young / arrayBuffers: `process.memoryUsage().heapUsed`, V8's new space as committed, and
 *    the ArrayBuffers alive or awaiting collection.
 * The sampling costs ~1 % CPU; runs without --breakdown do not load it.
 */
import fs from 'node:fs';
import v8 from 'node:v8';

const MiB = 1024 * 1024;
const peaks = { anon: 0, file: 0, binary: 0, heap: 0, young: 0, arrayBuffers: 0 };
const binaryPath = fs.realpathSync(process.execPath);

function statusField(status: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'mu').exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

function sample(): void {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const usage = process.memoryUsage();
  const young = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  peaks.anon = Math.max(peaks.anon, statusField(status, 'RssAnon'));
  peaks.file = Math.max(peaks.file, statusField(status, 'RssFile'));
  peaks.heap = Math.max(peaks.heap, usage.heapUsed);
  peaks.young = Math.max(peaks.young, young?.space_size ?? 0);
  peaks.arrayBuffers = Math.max(peaks.arrayBuffers, usage.arrayBuffers);
}

/** Rss of the mappings of the Node binary itself. */
function sampleBinary(): void {
  let inBinary = false;
  let bytes = 0;
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /u.test(line)) inBinary = line.endsWith(` ${binaryPath}`);
    else if (inBinary && line.startsWith('Rss:')) bytes += Number(/(\d+) kB/u.exec(line)?.[1] ?? 0) * 1024;
  }
  peaks.binary = Math.max(peaks.binary, bytes);
}

const out = process.env['TRIDENT_MEMORY_PROBE'];
if (out) {
  setInterval(sample, 10).unref();
  setInterval(sampleBinary, 100).unref();
  process.on('exit', () => {
    sample();
    sampleBinary();
    const mib = Object.fromEntries(Object.entries(peaks).map(([k, v]) => [k, v / MiB]));
    fs.writeFileSync(out, JSON.stringify(mib));
  });
}
