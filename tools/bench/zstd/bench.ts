/**
 * Benchmark of the image write path (issue: zstd-native item 6). One run of this script:
 *  1. builds realistic images: ext4 filesystems (1 GiB and 4 GiB sparse files) populated from
 *     /usr with `mkfs.ext4 -d`, compressed by our compressor at its defaults (level 9, --long=27,
 *     one frame) and, for the parallel-decode comparison, in the seekable format;
 *  2. times (median of RUNS) native writer (SHA-384 + decode + pwrite + fsync) against
 *     `zstd -d -c > file`, a plain node:zlib stream pipeline with SHA-384, our node-zlib and
 *     simple-zstd fallbacks;
 *  3. measures peak RSS of the native writer in fresh processes for both image sizes;
 *  4. prints ratios against the targets and deletes everything.
 * Usage: pnpm bench  (or: node --conditions=@trident/source tools/bench/zstd/bench.ts [--skip-4g])
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import {
  type Codec,
  codecInfo,
  compressFile,
  createImageWriter,
  readSeekTable,
  type SeekTable,
} from '../../../packages/zstd-native/src/index.ts';
import { stageUsrTree } from '../usr-tree.ts';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const MiB = 1 << 20;
const GiB = 1 << 30;
const skip4g = process.argv.includes('--skip-4g');
const work = fs.mkdtempSync(path.join(process.env['BENCH_DIR'] ?? os.tmpdir(), 'zstd-bench-'));
const say = (s: string) => process.stdout.write(`${s}\n`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function makeImage(size: number, budget: number): string {
  const img = path.join(work, `ext4-${size / GiB}g.raw`);
  const staging = path.join(work, 'staging');
  fs.rmSync(staging, { recursive: true, force: true });
  const bytes = stageUsrTree(staging, budget);
  fs.closeSync(fs.openSync(img, 'w'));
  fs.truncateSync(img, size);
  execFileSync('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', '-d', staging, img]);
  fs.rmSync(staging, { recursive: true, force: true });
  say(
    `image ${path.basename(img)}: ${size / GiB} GiB ext4, ${(bytes / MiB).toFixed(0)} MiB of files from /usr`,
  );
  return img;
}

async function time(fn: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

const out = path.join(work, 'out.img');

async function writerRun(zst: string, codec: Codec, seekTable?: SeekTable, sync = true): Promise<void> {
  fs.rmSync(out, { force: true });
  const w = await createImageWriter({
    target: { path: out, create: true },
    codec,
    sync,
    ...(seekTable ? { seekTable, threads: 2 } : {}),
  });
  for await (const c of fs.createReadStream(zst, { highWaterMark: MiB })) await w.write(c as Buffer);
  await w.finish();
}

async function zstdCli(zst: string): Promise<void> {
  fs.rmSync(out, { force: true });
  await new Promise<void>((resolve, reject) => {
    const p = spawn('sh', ['-c', `zstd -q -d -c --long=27 "$1" > "$2"`, 'sh', zst, out], {
      stdio: 'inherit',
    });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`zstd exited ${code}`))));
  });
}

/** What one would write in plain Node: stream pipeline, default chunking, hash in a Transform. */
async function nodePipeline(zst: string): Promise<void> {
  fs.rmSync(out, { force: true });
  const hash = createHash('sha384');
  const tap = new Transform({
    transform(chunk, _enc, cb) {
      hash.update(chunk as Buffer);
      cb(null, chunk);
    },
  });
  const dst = fs.createWriteStream(out);
  await pipeline(fs.createReadStream(zst), tap, zlib.createZstdDecompress(), dst);
  const fd = fs.openSync(out, 'r+');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  hash.digest('hex');
}

/**
 * RSS of a fresh process running the native writer: `base` after loading everything (Node's
 * baseline), `peak` the highest RSS sampled every 20 ms while writing. Sampling instead of
 * `maxRSS`, because Node's TypeScript stripping has a transient peak at start-up larger than the
 * writer's whole working set.
 */
function rss(zst: string): { base: number; peak: number } {
  const index = path.join(import.meta.dirname, '../../../packages/zstd-native/src/index.ts');
  const script = `
    import fs from 'node:fs';
    import { createImageWriter, codecInfo } from ${JSON.stringify(index)};
    codecInfo();
    await new Promise((r) => setTimeout(r, 200));
    const base = process.memoryUsage.rss();
    let peak = base;
    const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 20);
    const w = await createImageWriter({ target: { path: ${JSON.stringify(out)}, create: true } });
    for await (const c of fs.createReadStream(${JSON.stringify(zst)}, { highWaterMark: 1 << 20 })) await w.write(c);
    await w.finish();
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage.rss());
    console.log(JSON.stringify({ base, peak }));`;
  fs.rmSync(out, { force: true });
  const r = execFileSync(
    process.execPath,
    ['--conditions=@trident/source', '--input-type=module', '-e', script],
    { encoding: 'utf8' },
  );
  return JSON.parse(r.trim()) as { base: number; peak: number };
}

const pass = (ok: boolean) => (ok ? 'PASS' : 'MISS');

async function main(): Promise<void> {
  const info = codecInfo();
  say(
    `zstd-native benchmark: ${os.cpus().length} cores, node ${process.version}, libzstd ${info.native.loaded ? info.native.zstdVersion : '-'}, runs ${RUNS}`,
  );
  say(`work dir ${work}`);
  const raw1 = makeImage(GiB, 900 * MiB);
  const zst1 = `${raw1}.zst`;
  const seek1 = `${raw1}.seekable.zst`;
  let t = await time(async () => void (await compressFile(raw1, { path: zst1 })));
  say(
    `compressed (defaults: level 9, windowLog 27, long, one frame): ${(fs.statSync(zst1).size / MiB).toFixed(1)} MiB in ${t.toFixed(1)} s`,
  );
  t = await time(
    async () => void (await compressFile(raw1, { path: seek1 }, { seekableFrameSize: 8 * MiB })),
  );
  say(
    `compressed seekable (8 MiB frames): ${(fs.statSync(seek1).size / MiB).toFixed(1)} MiB in ${t.toFixed(1)} s`,
  );
  fs.rmSync(raw1);
  const table = readSeekTable(fs.readFileSync(seek1).subarray(-64 * 1024));

  // Variants run round-robin, after one discarded warm-up round, so drift on a shared machine
  // hits all of them alike.
  const variants: [string, () => Promise<void>][] = [
    ['native writer (sha384+decode+pwrite+fsync)', () => writerRun(zst1, 'native')],
    ['native writer, sync: false (no fsync)', () => writerRun(zst1, 'native', undefined, false)],
    ['zstd -d -c > file (no hash, no fsync)', () => zstdCli(zst1)],
    ['node:zlib pipeline + sha384 (+fsync)', () => nodePipeline(zst1)],
    ['fallback node-zlib writer (large chunks)', () => writerRun(zst1, 'node-zlib')],
    ['fallback simple-zstd writer', () => writerRun(zst1, 'simple-zstd')],
    ['seekable, table supplied, 2 threads (native)', () => writerRun(seek1, 'native', table)],
    ['seekable, table supplied, sync: false', () => writerRun(seek1, 'native', table, false)],
  ];
  const times = variants.map(() => [] as number[]);
  for (let round = 0; round <= RUNS; round++) {
    for (const [i, [, fn]] of variants.entries()) {
      const t = await time(fn);
      if (round > 0) times[i]!.push(t);
    }
  }
  say(`\ndecode the 1 GiB image to a file (median of ${RUNS} after a warm-up round):`);
  const med = times.map((xs, i) => {
    const m = median(xs);
    say(`  ${variants[i]![0].padEnd(46)} ${m.toFixed(2)} s  (${xs.map((x) => x.toFixed(2)).join(', ')})`);
    return m;
  });
  const [native, nativeNoSync, cli, nodePipe, nodeFallback, simple, seekPar, seekParNoSync] = med as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const seekOne = native;
  fs.rmSync(seek1);

  say('\nRSS (fresh process, native writer, sampled every 20 ms):');
  const r1 = rss(zst1);
  fs.rmSync(zst1);
  say(
    `  1 GiB image: Node baseline ${(r1.base / MiB).toFixed(0)} MiB, peak ${(r1.peak / MiB).toFixed(0)} MiB (+${((r1.peak - r1.base) / MiB).toFixed(0)} MiB)`,
  );
  let r4: { base: number; peak: number } | undefined;
  if (!skip4g) {
    const raw4 = makeImage(4 * GiB, 3500 * MiB);
    const zst4 = `${raw4}.zst`;
    t = await time(async () => void (await compressFile(raw4, { path: zst4 })));
    say(`compressed 4 GiB image: ${(fs.statSync(zst4).size / MiB).toFixed(1)} MiB in ${t.toFixed(1)} s`);
    fs.rmSync(raw4);
    r4 = rss(zst4);
    fs.rmSync(zst4);
    say(
      `  4 GiB image: Node baseline ${(r4.base / MiB).toFixed(0)} MiB, peak ${(r4.peak / MiB).toFixed(0)} MiB (+${((r4.peak - r4.base) / MiB).toFixed(0)} MiB)`,
    );
  }
  fs.rmSync(out, { force: true });

  const bound = (base: number) => base + 2 * 2 ** 27 + 64 * MiB;
  say('\nratios (targets):');
  say(`  native / zstd CLI              ${(native / cli).toFixed(2)}x  (<= 1.0)  ${pass(native <= cli)}`);
  say(
    `  native / node:zlib pipeline    ${(native / nodePipe).toFixed(2)}x  (<= 0.5)  ${pass(native <= 0.5 * nodePipe)}`,
  );
  say(`  native / node-zlib fallback    ${(native / nodeFallback).toFixed(2)}x`);
  say(`  native / simple-zstd fallback  ${(native / simple).toFixed(2)}x`);
  say(
    `  native, no fsync / zstd CLI    ${(nativeNoSync / cli).toFixed(2)}x  (same work as the CLI plus SHA-384)`,
  );
  say(
    `  seekable speed-up on 2 threads ${(seekOne / seekPar).toFixed(2)}x  (>= 1.6)  ${pass(seekOne / seekPar >= 1.6)}`,
  );
  say(`  same, both without fsync       ${(nativeNoSync / seekParNoSync).toFixed(2)}x`);
  say(
    `  peak RSS 1 GiB                 ${(r1.peak / MiB).toFixed(0)} MiB  (< baseline + 2 x 128 MiB window + 64 MiB = ${(bound(r1.base) / MiB).toFixed(0)} MiB)  ${pass(r1.peak < bound(r1.base))}`,
  );
  if (r4 !== undefined) {
    say(
      `  peak RSS 4 GiB                 ${(r4.peak / MiB).toFixed(0)} MiB  (< ${(bound(r4.base) / MiB).toFixed(0)} MiB)  ${pass(r4.peak < bound(r4.base))}`,
    );
    say(
      `  peak RSS 4 GiB / 1 GiB         ${(r4.peak / r1.peak).toFixed(2)}x  (within 10%)  ${pass(Math.abs(r4.peak / r1.peak - 1) <= 0.1)}`,
    );
  }
}

try {
  await main();
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
