/**
 * End-to-end benchmark of stream-disk (issue: engine item 8). One run:
 *  1. builds GPT disk images (vfat ESP + ext4 root populated from /usr: ~1.1 GiB and ~2.2 GiB of
 *     files) and COSIs from them with our writer at its defaults;
 *  2. serves COSI, raw image and bmap from a local nginx;
 *  3. times (median of BENCH_RUNS) `trident stream-disk` into a file against the same partition
 *     data through `curl | zstd -d | dd` (no hashing), `bmaptool copy` of the raw image with its
 *     bmap, and trident on the node:zlib codec; measures peak RSS with GNU time. Twice: over
 *     unthrottled loopback (the targets), and through a 1 Gbit/s per-connection limit
 *     (nginx limit_rate; every tool then uses one connection), which is what a fleet sees;
 *  4. prints ratios against the targets, then deletes everything.
 * Usage: pnpm bench:e2e  [--quick: 1 GiB image only]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildCosi, openCosi } from '@trident/cosi-format';
import { startNginx } from '@trident/test-support/nginx';
import { makeBenchDisk } from '../bench-disk.ts';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const MiB = 1 << 20;
const quick = process.argv.includes('--quick');
const work = fs.mkdtempSync(path.join(process.env['BENCH_DIR'] ?? os.tmpdir(), 'e2e-bench-'));
// The built CLI, as users run it (`pnpm bench:e2e` builds first): no type stripping at run time.
const cli = path.resolve(import.meta.dirname, '../../../apps/cli/bin/trident.js');
const say = (text: string) => process.stdout.write(`${text}\n`);
const sh = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * MiB }).toString();

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** A GPT disk: 64 MiB ESP (vfat) and an ext4 root holding `budget` bytes of /usr. */
function makeDisk(name: string, rootMiB: number, budget: number): string {
  const { disk, sizeMiB, staged } = makeBenchDisk(work, name, rootMiB, budget);
  say(`  ${name}: ${sizeMiB} MiB disk, ${(staged / MiB).toFixed(0)} MiB of /usr in the root`);
  return disk;
}

interface Timed {
  seconds: number;
  rssKiB: number | undefined;
}

/** Runs a command under GNU time: wall time and the peak RSS of the process tree's largest member. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Timed {
  const start = performance.now();
  const result = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], {
    encoding: 'utf8',
    env,
    maxBuffer: 64 * MiB,
  });
  const seconds = (performance.now() - start) / 1000;
  if (result.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  const rss = Number(result.stderr.trim().split('\n').pop());
  return { seconds, rssKiB: Number.isFinite(rss) ? rss : undefined };
}

function dropTarget(file: string): void {
  fs.rmSync(file, { force: true });
  fs.rmSync(`${file}.trident-journal.json`, { force: true });
}

async function prepareImage(name: string, rootMiB: number, budget: number, nginxRoot: string) {
  const disk = makeDisk(name, rootMiB, budget);
  const cosiPath = path.join(nginxRoot, `${name}.cosi`);
  const built = await buildCosi({ input: disk, output: cosiPath });
  const raw = path.join(nginxRoot, `${name}.img`);
  fs.renameSync(disk, raw);
  const bmap = path.join(work, `${name}.bmap`);
  fs.writeFileSync(bmap, sh('bmaptool', ['create', raw]));
  const reader = await openCosi(cosiPath);
  const gpt = await reader.gpt();
  const regions = (reader.metadata.disk?.gptRegions ?? []).map((region) => {
    const member = reader.member(region.image.path);
    const partition = gpt.partitions.find((p) => p.number === region.number);
    return {
      start: member.dataOffset,
      end: member.dataOffset + member.size - 1,
      offset: partition ? partition.firstLba * 512 : 0,
    };
  });
  const uncompressed = (reader.metadata.disk?.gptRegions ?? []).reduce(
    (sum, r) => sum + r.image.uncompressedSize,
    0,
  );
  await reader.close();
  say(
    `  ${name}.cosi: ${(fs.statSync(cosiPath).size / MiB).toFixed(0)} MiB, ${(uncompressed / MiB).toFixed(0)} MiB uncompressed`,
  );
  return { name, raw, bmap, regions, uncompressed, metadataSha384: built.metadataSha384 };
}

type Prepared = Awaited<ReturnType<typeof prepareImage>>;

function measure(image: Prepared, baseUrl: string, limited: boolean) {
  const { name, raw, bmap, regions } = image;
  const url = `${baseUrl}/${name}.cosi`;
  const target = path.join(work, 'target.img');
  const node = process.execPath;
  const trident = (extra: string[], env: NodeJS.ProcessEnv = process.env) => {
    dropTarget(target);
    const args = [
      cli,
      'stream-disk',
      url,
      '--hash',
      `sha384:${image.metadataSha384}`,
      '--target-image',
      target,
      '--no-resize',
      '-q',
    ];
    return timed(node, [...args, ...(limited ? ['--concurrency', '1'] : []), ...extra], env);
  };
  const pipelineScript = regions
    .map(
      (r) =>
        `curl -sf -r ${r.start}-${r.end} ${url} | zstd -dq | dd of=${target} bs=4M seek=${r.offset} oflag=seek_bytes conv=notrunc,fsync status=none`,
    )
    .join(' && ');
  const cases: Record<string, () => Timed> = {
    'trident (native)': () => trident([]),
    'trident (node:zlib)': () => trident(['--codec', 'node-zlib']),
    'curl | zstd -d | dd': () => {
      dropTarget(target);
      fs.writeFileSync(target, '');
      fs.truncateSync(target, fs.statSync(raw).size);
      return timed('bash', ['-o', 'pipefail', '-c', pipelineScript]);
    },
    'bmaptool copy': () => {
      dropTarget(target);
      return timed('bmaptool', ['-q', 'copy', '--bmap', bmap, `${baseUrl}/${name}.img`, target]);
    },
  };
  const results: Record<string, { seconds: number; rssKiB: number | undefined }> = {};
  for (const [label, run] of Object.entries(cases)) {
    const samples: Timed[] = [];
    run(); // warm-up: page cache, nginx, JIT
    for (let i = 0; i < RUNS; i++) samples.push(run());
    results[label] = {
      seconds: median(samples.map((s) => s.seconds)),
      rssKiB: Math.max(...samples.map((s) => s.rssKiB ?? 0)),
    };
    say(
      `    ${label.padEnd(22)} ${results[label]!.seconds.toFixed(2)} s  peak RSS ${((results[label]!.rssKiB ?? 0) / 1024).toFixed(0)} MiB`,
    );
  }
  const concurrency: Record<string, number> = {};
  for (const n of limited ? [] : [1, 2, 4]) {
    const samples: number[] = [];
    for (let i = 0; i < RUNS; i++) samples.push(trident(['--concurrency', String(n)]).seconds);
    concurrency[n] = median(samples);
  }
  if (!limited)
    say(
      `    concurrency 1/2/4: ${Object.values(concurrency)
        .map((s) => s.toFixed(2))
        .join(' / ')} s`,
    );
  dropTarget(target);
  return { results, concurrency };
}

say(`e2e benchmark: ${RUNS} runs per case (median), ${os.cpus().length} cores, node ${process.version}`);
const nginxRoot = path.join(work, 'www');
fs.mkdirSync(nginxRoot);
// /net/ serves the same files at 1 Gbit/s per connection.
const nginx = await startNginx({
  root: nginxRoot,
  serverConfig: `location /net/ { alias ${nginxRoot}/; limit_rate 119m; }`,
});
try {
  const images = [await prepareImage('img-1g', 1280, 1100 * MiB, nginxRoot)];
  if (!quick) images.push(await prepareImage('img-2g', 2560, 2200 * MiB, nginxRoot));
  say('\nloopback, no limit:');
  const small = measure(images[0]!, nginx.url, false);
  const large = images[1] ? measure(images[1], nginx.url, false) : undefined;
  say('\n1 Gbit/s per connection (one connection each):');
  const network = measure(images[0]!, `${nginx.url}/net`, true);
  const r = small.results;
  const native = r['trident (native)']!;
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  say('\nratios (1 GiB image, wall time; lower is better):');
  const vsShell = native.seconds / r['curl | zstd -d | dd']!.seconds;
  const vsBmap = native.seconds / r['bmaptool copy']!.seconds;
  say(
    `  trident / (curl | zstd -d | dd)   ${ratio(native.seconds, r['curl | zstd -d | dd']!.seconds)}  target <= 1.00  ${vsShell <= 1 ? 'MET' : 'MISSED'}`,
  );
  say(
    `  trident / bmaptool copy           ${ratio(native.seconds, r['bmaptool copy']!.seconds)}  target <= 0.50  ${vsBmap <= 0.5 ? 'MET' : 'MISSED'}`,
  );
  say(`  trident / trident on node:zlib    ${ratio(native.seconds, r['trident (node:zlib)']!.seconds)}`);
  const rss1 = (native.rssKiB ?? 0) / 1024;
  say(
    `  peak RSS 1 GiB image              ${rss1.toFixed(0)} MiB  target < 200 MiB  ${rss1 < 200 ? 'MET' : 'MISSED'}`,
  );
  if (large) {
    const rss2 = (large.results['trident (native)']!.rssKiB ?? 0) / 1024;
    const growth = rss2 / rss1 - 1;
    say(
      `  peak RSS 2 GiB image              ${rss2.toFixed(0)} MiB  (${(growth * 100).toFixed(1)}% vs 1 GiB; target: independent of size, within 10%)  ${rss2 < 200 && Math.abs(growth) <= 0.1 ? 'MET' : 'MISSED'}`,
    );
  }
  const n = network.results;
  say(
    `  1 Gbit/s: trident / pipeline      ${ratio(n['trident (native)']!.seconds, n['curl | zstd -d | dd']!.seconds)}`,
  );
  say(
    `  1 Gbit/s: trident / bmaptool      ${ratio(n['trident (native)']!.seconds, n['bmaptool copy']!.seconds)}`,
  );
  const best = Object.entries(small.concurrency).sort((a, b) => a[1] - b[1])[0]!;
  say(`  fastest concurrency               ${best[0]} (${best[1].toFixed(2)} s)`);
} finally {
  await nginx.stop();
  fs.rmSync(work, { recursive: true, force: true });
}
