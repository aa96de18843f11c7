import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from './errors.ts';
import {
  cgroupLimit,
  declaredWindowLog,
  detectMemoryBudget,
  fitConcurrency,
  imageWriterBytes,
  MemoryBudgetError,
  MiB,
  memAvailable,
  planImageMemory,
  RUNTIME_RESERVE,
} from './memory-budget.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'engine-memory-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A /proc and /sys/fs/cgroup laid out as the kernel does, under `dir/name`. */
function fakeHost(
  name: string,
  layout: { cgroup: string; meminfo?: string; files: Record<string, string> },
): { procRoot: string; cgroupRoot: string } {
  const procRoot = join(dir, name, 'proc');
  const cgroupRoot = join(dir, name, 'cgroup');
  mkdirSync(join(procRoot, 'self'), { recursive: true });
  writeFileSync(join(procRoot, 'self/cgroup'), layout.cgroup);
  if (layout.meminfo) writeFileSync(join(procRoot, 'meminfo'), layout.meminfo);
  for (const [file, text] of Object.entries(layout.files)) {
    const path = join(cgroupRoot, file);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
  }
  mkdirSync(cgroupRoot, { recursive: true });
  return { procRoot, cgroupRoot };
}

const MEMINFO = 'MemTotal:       24683520 kB\nMemFree:        20000000 kB\nMemAvailable:    1048576 kB\n';

describe('reading the limit', () => {
  it('takes the tightest cgroup v1 limit of the group and its ancestors; the v1 "unlimited" value is none', () => {
    const host = fakeHost('v1', {
      cgroup: '9:name=systemd:/\n4:memory:/system.slice/trident.service\n3:cpuset:/\n',
      files: {
        'memory/memory.limit_in_bytes': '9223372036854771712\n',
        'memory/system.slice/memory.limit_in_bytes': `${512 * MiB}\n`,
        'memory/system.slice/trident.service/memory.limit_in_bytes': `${200 * MiB}\n`,
      },
    });
    expect(cgroupLimit(host.procRoot, host.cgroupRoot)).toEqual({
      bytes: 200 * MiB,
      file: join(host.cgroupRoot, 'memory/system.slice/trident.service/memory.limit_in_bytes'),
    });
  });

  it('reads cgroup v2 memory.max, where "max" means no limit at that level', () => {
    const host = fakeHost('v2', {
      cgroup: '0::/system.slice/trident.service\n',
      files: {
        'cgroup.controllers': 'cpu memory pids\n',
        'system.slice/memory.max': `${300 * MiB}\n`,
        'system.slice/trident.service/memory.max': 'max\n',
      },
    });
    expect(cgroupLimit(host.procRoot, host.cgroupRoot)?.bytes).toBe(300 * MiB);
  });

  it('finds no limit when every level is unlimited, and none when the memory controller is absent', () => {
    const unlimited = fakeHost('v2-max', {
      cgroup: '0::/user.slice\n',
      files: { 'cgroup.controllers': 'memory\n', 'user.slice/memory.max': 'max\n' },
    });
    expect(cgroupLimit(unlimited.procRoot, unlimited.cgroupRoot)).toBeUndefined();
    const noMemory = fakeHost('v1-none', { cgroup: '3:cpuset:/\n', files: {} });
    expect(cgroupLimit(noMemory.procRoot, noMemory.cgroupRoot)).toBeUndefined();
  });

  it('budgets the smallest of --memory-limit, the cgroup limit and MemAvailable plus what the process holds', () => {
    const host = fakeHost('all', {
      cgroup: '4:memory:/bench\n',
      meminfo: MEMINFO,
      files: { 'memory/bench/memory.limit_in_bytes': `${400 * MiB}\n` },
    });
    expect(memAvailable(host.procRoot)).toBe(1024 * MiB);
    const rss = 60 * MiB;
    expect(detectMemoryBudget({ ...host, rss })).toMatchObject({ bytes: 400 * MiB });
    expect(detectMemoryBudget({ ...host, rss, limit: 150 * MiB })).toEqual({
      bytes: 150 * MiB,
      source: '--memory-limit',
    });
    expect(detectMemoryBudget({ ...host, rss, limit: 4096 * MiB })?.bytes).toBe(400 * MiB);
    const roomy = fakeHost('meminfo-only', { cgroup: '4:memory:/\n', meminfo: MEMINFO, files: {} });
    expect(detectMemoryBudget({ ...roomy, rss })).toEqual({ bytes: 1084 * MiB, source: 'MemAvailable' });
  });

  it('reads this host without failing (a real /proc)', () => {
    const budget = detectMemoryBudget();
    expect(budget?.bytes).toBeGreaterThan(0);
  });
});

describe('planning concurrency', () => {
  const rss = 60 * MiB;
  const images = (windowLog: number, n = 2) =>
    Array.from({ length: n }, (_, i) => ({ name: `partition-${i + 1} (root.rawzst)`, windowLog }));

  it('keeps the wanted concurrency when the budget fits it, and says why in one line', () => {
    const plan = fitConcurrency({
      budget: { bytes: 400 * MiB, source: 'cgroup limit x' },
      images: images(23),
      wanted: 2,
      rss,
    });
    expect(plan.concurrency).toBe(2);
    expect(plan.line).toMatch(/^memory: budget 400 MiB \(cgroup limit x\), 60 MiB in use/u);
    expect(plan.line).toContain('zstd window 2^23');
    expect(plan.line).toMatch(/writing 2 at once$/u);
  });

  it('writes one buffered 2^27-window image at a time inside 300 MiB, and says that the budget decided', () => {
    const plan = fitConcurrency({
      budget: { bytes: 300 * MiB, source: 'cgroup limit x' },
      images: images(27),
      wanted: 2,
      rss: 40 * MiB,
    });
    expect(plan.concurrency).toBe(1);
    expect(plan.line).toMatch(/writing 1 at once \(2 wanted; the budget fits 1\)$/u);
  });

  it('costs an in-place writer the same whatever the window: two 2^27 images fit in 200 MiB', () => {
    expect(imageWriterBytes(27, 'in-place')).toBe(imageWriterBytes(23, 'in-place'));
    expect(imageWriterBytes(27, 'in-place')).toBeLessThan(imageWriterBytes(27) / 4);
    const plan = fitConcurrency({
      budget: { bytes: 200 * MiB, source: 'cgroup limit x' },
      images: images(27),
      wanted: 2,
      rss: 80 * MiB,
      cost: (log) => imageWriterBytes(log, 'in-place'),
    });
    expect(plan.concurrency).toBe(2);
    expect(200 * MiB - 80 * MiB - RUNTIME_RESERVE).toBeGreaterThan(2 * imageWriterBytes(27, 'in-place'));
  });

  it('refuses through the engine as UNSUPPORTED_CONFIGURATION_ERROR insufficient-memory, naming the image', () => {
    const attempt = () =>
      planImageMemory(
        { memoryLimit: 4 * MiB, codec: 'node-zlib' },
        [{ id: 'partition-2', imagePath: 'images/root.raw.zst' }],
        31,
        2,
      );
    expect(attempt).toThrow(EngineError);
    try {
      attempt();
    } catch (error) {
      expect((error as EngineError).tridentError).toMatchObject({
        kind: 'UNSUPPORTED_CONFIGURATION_ERROR',
        subkind: 'insufficient-memory',
        code: 'ENGINE_MEMORY_BUDGET',
      });
      expect((error as Error).message).toMatch(
        /image 'partition-2 \(images\/root\.raw\.zst\)' declares a zstd window of 2\^31 bytes .*4 MiB budget \(--memory-limit\)/u,
      );
    }
  });

  it('refuses, naming the image and its window, when even one writer does not fit', () => {
    const attempt = () =>
      fitConcurrency({
        budget: { bytes: 1024 * MiB, source: '--memory-limit' },
        images: [
          { name: 'partition-1 (esp.rawzst)', windowLog: 23 },
          { name: 'partition-2 (root.rawzst)', windowLog: 31 },
        ],
        wanted: 2,
        rss,
      });
    expect(attempt).toThrow(MemoryBudgetError);
    expect(attempt).toThrow(/image 'partition-2 \(root\.rawzst\)' declares a zstd window of 2\^31/u);
    try {
      attempt();
    } catch (error) {
      expect((error as MemoryBudgetError).code).toBe('ENGINE_MEMORY_BUDGET');
    }
  });

  it('never plans more writers than images, and the wanted number when no limit is known', () => {
    expect(
      fitConcurrency({ budget: { bytes: 8192 * MiB, source: 'x' }, images: images(23, 1), wanted: 4, rss })
        .concurrency,
    ).toBe(1);
    const unknown = fitConcurrency({ budget: undefined, images: images(23, 3), wanted: 2, rss });
    expect(unknown.concurrency).toBe(2);
    expect(unknown.line).toMatch(/no limit known/u);
  });

  it('reads an absent or 0 maxWindowLog as libzstd default 27', () => {
    expect(declaredWindowLog(undefined)).toBe(27);
    expect(declaredWindowLog(0)).toBe(27);
    expect(declaredWindowLog(20)).toBe(20);
  });
});
