/**
 * Memory benchmark (issue 14): does provisioning fit where upstream Trident is tested (systemd
 * `MemoryMax=200M`) and in less?
 *  1. builds GPT disks of 1 and 4 GiB (vfat ESP + ext4 root with real /usr files; the rest of the
 *     root is zeros, so the 4 GiB disk stays sparse) and COSIs of each at windowLog 23 and 27
 *     (zstd level 3 to keep the build short; decoder memory depends on the window, not the level).
 *     Built images are kept in a cache directory and reused by the next run (--rebuild: build again);
 *  2. serves them from a real nginx on loopback (nginx runs outside the measured cgroups);
 *  3. runs the built `trident stream-disk` and `trident install` (a minimal Host Configuration: ESP
 *     and root) into disk-image files, each inside a fresh memory cgroup of 128, 200, 400 MiB and
 *     with no limit (v1 `memory.limit_in_bytes` or v2 `memory.max`), N times each;
 *  4. prints, per case, the medians of wall time, peak RSS (GNU time) and cgroup peak (RSS + page
 *     cache charged to the group), exit statuses, and wall time against the unlimited run.
 * Usage: pnpm bench:memory [--quick] [--runs N] [--limits 128,200,400,none] [--rebuild] [--breakdown] [--loop]
 *   --breakdown: also the peaks inside each run (probe.ts): RssAnon, RssFile (and its Node-binary part), V8 heap, young generation, ArrayBuffers.
 *   --loop: write to a loop device over the disk-image file, as a host's disk is a block device
 *     (its page cache is the block device's, not the file system's).
 *   --quick: 1 GiB disk only, limits 200 and none, 1 run (unless --runs); BENCH_RUNS also sets N.
 *   --write-modes in-place,buffered,direct: run the whole matrix once per image-writer path
 *     (TRIDENT_WRITE_MODE, read by @trident/zstd-native), each mode's batch back to back, and add a
 *     `mode` column: decode into a mapping of the target (the engine's default), into buffers
 *     written through the page cache, or into buffers written with O_DIRECT.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildCosi } from '@trident/cosi-format';
import { startNginx } from '@trident/test-support/nginx';
import { makeBenchDisk } from '../bench-disk.ts';
import { cgroupVersion, createMemoryCgroup } from './cgroup.ts';

const MiB = 1 << 20;
const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    limits: { type: 'string' },
    sizes: { type: 'string' },
    windows: { type: 'string' },
    commands: { type: 'string' },
    rebuild: { type: 'boolean', default: false },
    breakdown: { type: 'boolean', default: false },
    loop: { type: 'boolean', default: false },
    'cli-arg': { type: 'string', multiple: true, default: [] },
    'write-modes': { type: 'string' },
  },
});
const quick = flags.quick;
const RUNS = Number(flags.runs ?? process.env['BENCH_RUNS'] ?? (quick ? 1 : 3));
const LIMITS = (flags.limits ?? (quick ? '200,none' : '128,200,400,none'))
  .split(',')
  .map((l) => (l === 'none' ? Number.POSITIVE_INFINITY : Number(l)))
  // The unlimited run first: it is the reference the limited runs are compared with.
  .sort((a, b) => b - a);
const SIZES = (flags.sizes ?? (quick ? '1' : '1,4')).split(',').map(Number);
const WINDOWS = (flags.windows ?? '23,27').split(',').map(Number);
const COMMANDS = (flags.commands ?? 'stream-disk,install').split(',');
const WRITE_MODES = ['in-place', 'buffered', 'direct'];
// undefined: the writer's own choice (no TRIDENT_WRITE_MODE), and no mode column.
const MODES: (string | undefined)[] = flags['write-modes']?.split(',') ?? [undefined];
for (const m of MODES)
  if (m !== undefined && !WRITE_MODES.includes(m))
    throw new Error(`--write-modes: ${m} is not one of ${WRITE_MODES.join(', ')}`);
const cli = path.resolve(import.meta.dirname, '../../../apps/cli/bin/trident.js');
const probeModule = pathToFileURL(path.join(import.meta.dirname, 'probe.ts')).href;
const say = (text: string) => process.stdout.write(`${text}\n`);
const base = process.env['BENCH_DIR'] ?? os.tmpdir();
const cache = path.join(base, 'trident-memory-bench-images');
const work = fs.mkdtempSync(path.join(base, 'memory-bench-'));

interface BenchImage {
  name: string;
  sizeGiB: number;
  windowLog: number;
  rootMiB: number;
  diskMiB: number;
  metadataSha384: string;
  cosiBytes: number;
}

/** Builds (or reuses from the cache) the disk of `sizeGiB` and its COSI at each window. */
async function prepare(sizeGiB: number): Promise<BenchImage[]> {
  const rootMiB = sizeGiB * 1024 - 66;
  // Real files fill ~70% of the 1 GiB root and 1.6 GiB of the 4 GiB one.
  const budget = sizeGiB === 1 ? 700 * MiB : 1600 * MiB;
  const images: BenchImage[] = [];
  let disk: string | undefined;
  for (const windowLog of WINDOWS) {
    const name = `disk-${sizeGiB}g-w${windowLog}`;
    const manifest = path.join(cache, `${name}.json`);
    if (!flags.rebuild && fs.existsSync(manifest) && fs.existsSync(path.join(cache, `${name}.cosi`))) {
      images.push(JSON.parse(fs.readFileSync(manifest, 'utf8')) as BenchImage);
      continue;
    }
    if (disk === undefined) {
      const made = makeBenchDisk(work, `disk-${sizeGiB}g`, rootMiB, budget);
      disk = made.disk;
      say(
        `  disk-${sizeGiB}g: ${made.sizeMiB} MiB disk, ${(made.staged / MiB).toFixed(0)} MiB of /usr in the root`,
      );
    }
    const started = performance.now();
    const cosi = path.join(cache, `${name}.cosi`);
    const built = await buildCosi({
      input: disk,
      output: cosi,
      compression: { level: 3, windowLog },
      shrink: false,
    });
    const image: BenchImage = {
      name,
      sizeGiB,
      windowLog,
      rootMiB,
      diskMiB: rootMiB + 66,
      metadataSha384: built.metadataSha384,
      cosiBytes: built.size,
    };
    fs.writeFileSync(manifest, JSON.stringify(image));
    say(
      `  ${name}.cosi: ${(built.size / MiB).toFixed(0)} MiB, built in ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
    images.push(image);
  }
  if (disk) fs.rmSync(disk, { force: true });
  return images;
}

interface Sample {
  status: number;
  seconds: number;
  rssMiB: number;
  cgroupMiB: number;
  oom: boolean;
  /** Peaks inside the process (probe.ts), with --breakdown. */
  parts?: Breakdown;
}

interface Breakdown {
  anon: number;
  file: number;
  binary: number;
  heap: number;
  young: number;
  arrayBuffers: number;
}

/** A loop device over a sparse file of `sizeMiB` (--loop); detach() removes both. */
function attachLoop(file: string, sizeMiB: number): { device: string; detach(): void } {
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, '');
  fs.truncateSync(file, sizeMiB * MiB);
  const attached = spawnSync('losetup', ['--find', '--show', file], { encoding: 'utf8' });
  if (attached.status !== 0) throw new Error(`losetup ${file}: ${attached.stderr.trim()}`);
  const device = attached.stdout.trim();
  return {
    device,
    detach: () => {
      spawnSync('losetup', ['-d', device]);
      fs.rmSync(file, { force: true });
    },
  };
}

function runOnce(
  image: BenchImage,
  command: string,
  limitMiB: number,
  url: string,
  mode: string | undefined,
): Sample {
  const target = path.join(work, 'target.img');
  fs.rmSync(target, { force: true });
  fs.rmSync(`${target}.trident-journal.json`, { force: true });
  const loop = flags.loop ? attachLoop(path.join(work, 'loop.img'), image.diskMiB + 2) : undefined;
  try {
    return measure(image, command, limitMiB, url, target, loop?.device, mode);
  } finally {
    loop?.detach();
  }
}

function measure(
  image: BenchImage,
  command: string,
  limitMiB: number,
  url: string,
  target: string,
  device: string | undefined,
  mode: string | undefined,
): Sample {
  const extra = flags['cli-arg'];
  let args: string[];
  if (command === 'stream-disk') {
    args = [
      'stream-disk',
      url,
      '--hash',
      `sha384:${image.metadataSha384}`,
      ...(device === undefined ? ['--target-image', target] : ['--disk', device]),
      '-q',
      ...extra,
    ];
  } else {
    const config = path.join(work, 'install.yaml');
    fs.writeFileSync(
      config,
      `image:
  url: ${url}
  sha384: ${image.metadataSha384}
storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: 64M }
        - { id: root, type: root, size: ${image.rootMiB}M }
  filesystems:
    - deviceId: esp
      mountPoint: { path: /boot/efi, options: umask=0077 }
    - deviceId: root
      mountPoint: /
`,
    );
    const disk = device === undefined ? `os=image:${target}:${image.diskMiB + 2}M` : `os=${device}`;
    args = ['install', config, '--disk', disk, '-q', ...extra];
  }
  const unlimited = limitMiB === Number.POSITIVE_INFINITY;
  const group = createMemoryCgroup(
    unlimited ? 'none' : `${limitMiB}m`,
    unlimited ? undefined : limitMiB * MiB,
  );
  const timeFile = path.join(work, 'time.txt');
  const probeFile = path.join(work, 'probe.json');
  fs.rmSync(probeFile, { force: true });
  // The launcher as users run it (it passes trident's V8 flags), on this benchmark's Node.
  const quoted = [cli, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const env: NodeJS.ProcessEnv = { ...process.env, TRIDENT_NODE: process.execPath };
  if (mode !== undefined) env['TRIDENT_WRITE_MODE'] = mode;
  if (flags.breakdown) {
    env['NODE_OPTIONS'] = `${env['NODE_OPTIONS'] ?? ''} --import ${probeModule}`.trim();
    env['TRIDENT_MEMORY_PROBE'] = probeFile;
  }
  const started = performance.now();
  const result = spawnSync('sh', ['-c', `${group.enter} /usr/bin/time -o ${timeFile} -f %M ${quoted}`], {
    encoding: 'utf8',
    maxBuffer: 64 * MiB,
    env,
  });
  const seconds = (performance.now() - started) / 1000;
  const timeLines = fs.readFileSync(timeFile, 'utf8').trim().split('\n');
  const signal = /terminated by signal (\d+)/u.exec(timeLines.join('\n'));
  const sample: Sample = {
    status: signal ? 128 + Number(signal[1]) : (result.status ?? -1),
    seconds,
    rssMiB: Number(timeLines.at(-1)) / 1024,
    cgroupMiB: group.peak() / MiB,
    oom: group.oomKilled(),
    ...(fs.existsSync(probeFile)
      ? { parts: JSON.parse(fs.readFileSync(probeFile, 'utf8')) as Breakdown }
      : {}),
  };
  if (sample.status !== 0)
    say(`      exit ${sample.status}: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  fs.rmSync(target, { force: true });
  fs.rmSync(`${target}.trident-journal.json`, { force: true });
  group.remove();
  return sample;
}

/** Medians of the probe's peaks, when the runs were probed (--breakdown). */
function breakdownColumns(samples: Sample[]): string {
  const probed = samples.flatMap((s) => (s.parts ? [s.parts] : []));
  if (probed.length === 0) return '';
  const keys = ['anon', 'file', 'binary', 'heap', 'young', 'arrayBuffers'] as const;
  return keys
    .map((k) => pad(median(probed.map((p) => p[k])).toFixed(0), k === 'young' || k === 'binary' ? 7 : 6))
    .join('');
}

/**
 * Peak RSS of the bare runtime, the floor under every row. Printed because it is not a constant:
 * most of it is the Node binary's mapped pages, and how many pages a fault maps depends on how the
 * page cache came to hold the binary (read whole with read(2), by `cp` or a checksum, it is cached
 * in large folios and `node -e 0` maps 63 instead of 37 MiB of it: 76 instead of 46 MiB RSS on
 * Linux 6.18). Rows are comparable only when their floors are.
 */
function nodeFloorMiB(): number {
  const peaks = [0, 1, 2].map(() => {
    const run = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, '-e', '0'], { encoding: 'utf8' });
    return Number(run.stderr.trim().split('\n').at(-1)) / 1024;
  });
  return median(peaks);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const pad = (s: string, n: number) => s.padEnd(n);
say(
  `memory benchmark: ${RUNS} run(s) per case (medians), cgroup v${cgroupVersion()}, ${os.cpus().length} cores, node ${process.version}`,
);
say(`  floor: \`node -e 0\` peaks at ${nodeFloorMiB().toFixed(0)} MiB RSS (same binary, median of 3)`);
fs.mkdirSync(cache, { recursive: true });
const nginxRoot = cache;
const nginx = await startNginx({ root: nginxRoot });
const rows: string[] = [];
try {
  const images: BenchImage[] = [];
  for (const size of SIZES) images.push(...(await prepare(size)));
  const modeColumn = MODES[0] !== undefined;
  say(
    `\n${modeColumn ? pad('mode', 10) : ''}${pad('image', 16)}${pad('command', 13)}${pad('limit', 8)}${pad('exit', 10)}${pad('wall s', 9)}${pad('vs none', 9)}${pad('RSS MiB', 9)}${pad('cgroup MiB', 11)}${flags.breakdown ? 'anon  file  binary heap  young  arrayBuffers (MiB)' : ''}`,
  );
  for (const mode of MODES) {
    for (const image of images) {
      for (const command of COMMANDS) {
        let unlimited: number | undefined;
        for (const limit of LIMITS) {
          const samples: Sample[] = [];
          for (let i = 0; i < RUNS; i++)
            samples.push(runOnce(image, command, limit, `${nginx.url}/${image.name}.cosi`, mode));
          const ok = samples.filter((s) => s.status === 0);
          const statuses = [...new Set(samples.map((s) => `${s.status}${s.oom ? '(oom)' : ''}`))].join(',');
          const wall = median((ok.length ? ok : samples).map((s) => s.seconds));
          if (limit === Number.POSITIVE_INFINITY) unlimited = wall;
          const row = `${modeColumn ? pad(mode ?? '', 10) : ''}${pad(image.name, 16)}${pad(command, 13)}${pad(limit === Number.POSITIVE_INFINITY ? 'none' : `${limit}M`, 8)}${pad(statuses, 10)}${pad(wall.toFixed(2), 9)}${pad(unlimited && ok.length ? `${((wall / unlimited - 1) * 100).toFixed(0)}%` : '-', 9)}${pad(median(samples.map((s) => s.rssMiB)).toFixed(0), 9)}${pad(median(samples.map((s) => s.cgroupMiB)).toFixed(0), 11)}${breakdownColumns(samples)}`;
          rows.push(row);
          say(row);
        }
      }
    }
  }
} finally {
  await nginx.stop();
  fs.rmSync(work, { recursive: true, force: true });
}
say(`\nimages kept in ${cache} (delete it, or pass --rebuild, to build them again)`);
