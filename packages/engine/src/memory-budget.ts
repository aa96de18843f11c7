import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VERIFY_BUFFER_BYTES, VERIFY_BUFFERS, VERIFY_QUEUE_BYTES } from '@trident/cosi-format';
import { EngineError } from './errors.ts';

/**
 * How much memory a run may use, and how many images it can therefore write at once.
 *
 * An image writer's memory is its zstd window (the decoder keeps that much history; libzstd sizes
 * it from the frame header, up to the `maxWindowLog` the COSI declares) plus a fixed amount of
 * buffers. The rest of the process is Node itself, which the budget measures as it stands at plan
 * time, plus a reserve for what a run adds (network buffers, V8's young generation, the page cache
 * the writer has not dropped yet). Limits that count page cache (cgroups, as systemd's `MemoryMax=`)
 * are honoured because the writer drops what it wrote (see @trident/zstd-native).
 */

export const MiB = 1024 * 1024;

/** Compressed bytes queued into one image writer before the network side waits. */
export const WRITER_QUEUE_BYTES = 2 * MiB;
/** Size of one positioned write; the writer's output ring holds three of them. */
export const WRITER_BUFFER_BYTES = 2 * MiB;
const WRITER_BUFFERS = 3;
/** libzstd's decoder state besides the window: a 128 KiB block buffer, tables, the DCtx. */
const ZSTD_DECODER_STATE = 1 * MiB;
/** What a run adds to the process beyond its image writers (measured with `pnpm bench:memory`). */
export const RUNTIME_RESERVE = 32 * MiB;
/** libzstd's default window limit, also COSI's when `compression.maxWindowLog` is absent or 0. */
export const DEFAULT_WINDOW_LOG = 27;

/**
 * Page cache an in-place writer keeps charged: the decoded bytes it leaves mapped for the
 * decoder's nearby matches plus one range under writeback (zstd-native's in-place decoder).
 */
const IN_PLACE_RESIDENT = 20 * MiB;

/**
 * How an image writer decodes: `in-place` straight into a mapping of the target (the native
 * codec on the engine's read-write targets; the window lives in the target's page cache, pushed
 * out and dropped as it goes), or `buffered` (a heap window and a ring of write buffers).
 */
export type WriterMode = 'in-place' | 'buffered';

/** Memory one image writer needs for a zstd window of 2^windowLog bytes. */
export function imageWriterBytes(windowLog: number, mode: WriterMode = 'buffered'): number {
  if (mode === 'in-place') return WRITER_QUEUE_BYTES + ZSTD_DECODER_STATE + IN_PLACE_RESIDENT;
  return 2 ** windowLog + WRITER_QUEUE_BYTES + WRITER_BUFFERS * WRITER_BUFFER_BYTES + ZSTD_DECODER_STATE;
}

/**
 * Memory a verifier (decode and hash, output discarded: `cosi validate`) needs: the window, the
 * queued input, its output buffers (cosi-format's native codec, `verify-buffers.ts`) and libzstd's
 * state.
 */
export function verifierBytes(windowLog: number): number {
  return 2 ** windowLog + ZSTD_DECODER_STATE + VERIFY_QUEUE_BYTES + VERIFY_BUFFERS * VERIFY_BUFFER_BYTES;
}

/** The window a COSI's `compression.maxWindowLog` allows (0 or absent: libzstd's default). */
export function declaredWindowLog(maxWindowLog: number | undefined): number {
  return maxWindowLog === undefined || maxWindowLog === 0 ? DEFAULT_WINDOW_LOG : maxWindowLog;
}

export interface MemoryBudget {
  /** Bytes the whole process may use. */
  bytes: number;
  /** Where the number comes from, for the plan line. */
  source: string;
}

export interface DetectOptions {
  /** An explicit limit (`--memory-limit`): used as it is when smaller than what the host has. */
  limit?: number | undefined;
  /** Roots to read instead of the real ones (tests). */
  procRoot?: string;
  cgroupRoot?: string;
  /** What the process holds now; default `processMemory()`. */
  rss?: number;
}

/**
 * What this process holds that a memory cgroup charges to it: anonymous and shared memory
 * (RssAnon + RssShmem). The mapped Node binary (RssFile, ~60 MiB) is left out: it is page cache
 * shared with every Node process, clean and reclaimable. Falls back to the whole RSS.
 */
export function processMemory(procRoot = '/proc'): number {
  const status = readText(join(procRoot, 'self/status')) ?? '';
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'mu').exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  };
  const anon = field('RssAnon');
  return anon === undefined ? process.memoryUsage.rss() : anon + (field('RssShmem') ?? 0);
}

/** Values at or above this mean "no limit" in cgroup v1 (PAGE_COUNTER_MAX rounded to pages). */
const UNLIMITED = 2 ** 60;

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The tightest memory limit of this process's cgroup and its ancestors, v2 or v1. */
export function cgroupLimit(
  procRoot = '/proc',
  cgroupRoot = '/sys/fs/cgroup',
): { bytes: number; file: string } | undefined {
  const membership = readText(join(procRoot, 'self/cgroup'));
  if (membership === undefined) return undefined;
  const v2 = readText(join(cgroupRoot, 'cgroup.controllers')) !== undefined;
  let groupPath: string | undefined;
  let base: string;
  if (v2) {
    groupPath = /^0::(.*)$/mu.exec(membership)?.[1];
    base = cgroupRoot;
  } else {
    groupPath = /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/mu.exec(membership)?.[1];
    base = join(cgroupRoot, 'memory');
  }
  if (groupPath === undefined) return undefined;
  const file = v2 ? 'memory.max' : 'memory.limit_in_bytes';
  let best: { bytes: number; file: string } | undefined;
  // Inside a cgroup namespace the path may not exist under the mount: the mount's root is the group.
  const parts = groupPath.split('/').filter(Boolean);
  for (let depth = parts.length; depth >= 0; depth--) {
    const path = join(base, ...parts.slice(0, depth), file);
    const text = readText(path)?.trim();
    if (text === undefined || text === 'max') continue;
    const bytes = Number(text);
    if (Number.isFinite(bytes) && bytes < UNLIMITED && (best === undefined || bytes < best.bytes))
      best = { bytes, file: path };
  }
  return best;
}

/** `MemAvailable` from /proc/meminfo, in bytes. */
export function memAvailable(procRoot = '/proc'): number | undefined {
  const match = /^MemAvailable:\s+(\d+) kB$/mu.exec(readText(join(procRoot, 'meminfo')) ?? '');
  return match ? Number(match[1]) * 1024 : undefined;
}

/**
 * The budget for this process: the smallest of the explicit limit, the cgroup limit and what the
 * host has (MemAvailable plus what this process already holds). Undefined when nothing is known.
 */
export function detectMemoryBudget(options: DetectOptions = {}): MemoryBudget | undefined {
  const rss = options.rss ?? processMemory(options.procRoot);
  const candidates: MemoryBudget[] = [];
  if (options.limit !== undefined) candidates.push({ bytes: options.limit, source: '--memory-limit' });
  const cgroup = cgroupLimit(options.procRoot, options.cgroupRoot);
  if (cgroup) candidates.push({ bytes: cgroup.bytes, source: `cgroup limit ${cgroup.file}` });
  const available = memAvailable(options.procRoot);
  if (available !== undefined) candidates.push({ bytes: available + rss, source: 'MemAvailable' });
  return candidates.sort((a, b) => a.bytes - b.bytes)[0];
}

export interface BudgetedImage {
  /** What the refusal names: the image's id and path. */
  name: string;
  windowLog: number;
}

export interface ConcurrencyPlan {
  concurrency: number;
  /** One line saying why: the budget, what is in use, what each writer needs. */
  line: string;
}

/** Refusal: even one image writer does not fit in the budget. `code` says so for every caller. */
export class MemoryBudgetError extends Error {
  override readonly name = 'MemoryBudgetError';
  readonly code = 'ENGINE_MEMORY_BUDGET';
}

const mib = (bytes: number) => `${Math.round(bytes / MiB)} MiB`;

/**
 * How many images to write at once within `budget`: at most `wanted` (the request or the default),
 * at least one, and refused when the largest window does not fit even alone.
 */
export function fitConcurrency(options: {
  budget: MemoryBudget | undefined;
  images: BudgetedImage[];
  wanted: number;
  /** What the process holds now; default `processMemory()`. */
  rss?: number;
  /** Per-writer cost; default `imageWriterBytes`. Verification passes `verifierBytes`. */
  cost?: (windowLog: number) => number;
  /** What is planned, for the line ("writing", "verifying"). */
  verb?: string;
  /** What the per-writer cost is made of, for the line. */
  costNote?: string;
}): ConcurrencyPlan {
  const { budget, images, wanted } = options;
  const cost = options.cost ?? imageWriterBytes;
  const verb = options.verb ?? 'writing';
  if (images.length === 0) return { concurrency: 1, line: `memory: nothing to decode` };
  const largest = images.reduce((a, b) => (b.windowLog > a.windowLog ? b : a));
  const each = cost(largest.windowLog);
  const describeWriter = `each image writer needs ${mib(each)} (${options.costNote ?? `zstd window 2^${largest.windowLog} + buffers`})`;
  if (budget === undefined) {
    return {
      concurrency: wanted,
      line: `memory: no limit known; ${describeWriter}; ${verb} ${wanted} image(s) at once`,
    };
  }
  const rss = options.rss ?? processMemory();
  const spare = budget.bytes - rss - RUNTIME_RESERVE;
  const fits = Math.floor(spare / each);
  const head = `memory: budget ${mib(budget.bytes)} (${budget.source}), ${mib(rss)} in use + ${mib(RUNTIME_RESERVE)} reserve`;
  if (fits < 1) {
    throw new MemoryBudgetError(
      `image '${largest.name}' declares a zstd window of 2^${largest.windowLog} bytes (maxWindowLog ${largest.windowLog}); ${verb} it needs ${mib(each)} but only ${mib(Math.max(0, spare))} of the ${mib(budget.bytes)} budget (${budget.source}) is free (${mib(rss)} in use, ${mib(RUNTIME_RESERVE)} reserve): raise the limit or rebuild the COSI with a smaller window`,
    );
  }
  const concurrency = Math.max(1, Math.min(wanted, fits, images.length));
  const why =
    concurrency < Math.min(wanted, images.length)
      ? `${concurrency} at once (${wanted} wanted; the budget fits ${fits})`
      : `${concurrency} at once`;
  return { concurrency, line: `${head}; ${describeWriter}; ${verb} ${why}` };
}

/**
 * The engine's use: how many of a plan's images to write at once within the request's
 * `memoryLimit` (or the cgroup limit, or what the host has), refused before anything is opened for
 * writing when even one does not fit. Every image of a COSI shares its `maxWindowLog`.
 */
export function planImageMemory(
  request: {
    memoryLimit?: number | undefined;
    concurrency?: number | undefined;
    codec?: string | undefined;
  },
  images: ReadonlyArray<{ id: string; imagePath: string }>,
  maxWindowLog: number | undefined,
  defaultConcurrency: number,
): ConcurrencyPlan {
  const windowLog = declaredWindowLog(maxWindowLog);
  const mode: WriterMode =
    request.codec === undefined || request.codec === 'native' ? 'in-place' : 'buffered';
  try {
    return fitConcurrency({
      cost: (log) => imageWriterBytes(log, mode),
      ...(mode === 'in-place'
        ? { costNote: `zstd window 2^${windowLog} decoded in place in the target's page cache + buffers` }
        : {}),
      budget: detectMemoryBudget({ limit: request.memoryLimit }),
      images: images.map((image) => ({ name: `${image.id} (${image.imagePath})`, windowLog })),
      wanted: Math.max(1, request.concurrency ?? defaultConcurrency),
    });
  } catch (error) {
    if (!(error instanceof MemoryBudgetError)) throw error;
    throw new EngineError('UNSUPPORTED_CONFIGURATION_ERROR', 'insufficient-memory', error.message, {
      code: error.code,
    });
  }
}
