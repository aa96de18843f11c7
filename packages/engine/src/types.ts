/**
 * The engine's public contract: requests, plans, events and results. The CLI and the daemon are
 * written against these types only. Each kind's request type lives with its kind
 * (`servicing/<kind>/request.ts`); `EngineRequest` is their union, made by the registry.
 */
import type { TridentKindName } from '@trident/datastore';
import type { OpenSourceOptions } from '@trident/remote-source';
import type { Codec } from '@trident/zstd-native';
import type { EngineRequest } from './servicing/registry.ts';

/** Where the image goes. */
export type TargetRequest =
  /** The smallest safe disk that fits (Trident's SmallestThatWillFit, minus unsafe candidates). */
  | { kind: 'auto' }
  /** A named block device, after the safety checks. */
  | { kind: 'disk'; path: string }
  /**
   * A disk-image file, created (sparse) at `size` bytes or the image's disk size, whichever is
   * larger. An existing file is refused unless `overwrite` (the CLI's `--force`): then it is
   * replaced, but only after every safety check passed — a file that is in use (backing a mounted
   * loop device, swap, the image being read, locked by another run) is refused all the same.
   */
  | { kind: 'image-file'; path: string; size?: number; overwrite?: boolean };

export interface CommonRequestOptions {
  /** Validation profile for the COSI (default `trident`; `spec` for `--strict`). */
  profile?: 'trident' | 'spec';
  /** Partition images written at once (default tuned by the benchmark; lowered to fit the memory budget). */
  concurrency?: number;
  /**
   * Bytes the run may use (CLI `--memory-limit`). Default: the cgroup limit, else what the host has.
   * Concurrency is planned within it; an image whose zstd window does not fit is refused before
   * any write (`UNSUPPORTED_CONFIGURATION_ERROR` `insufficient-memory`, `ENGINE_MEMORY_BUDGET`).
   */
  memoryLimit?: number;
  /** zstd codec: the native addon by default; fallbacks by name. */
  codec?: Codec;
  /** Continue a run that was interrupted after some partitions verified (uses the journal). */
  resume?: boolean;
  /** Skip the osArch-equals-host check (only for image-file targets). */
  allowArchMismatch?: boolean;
  /**
   * How remote sources are reached (headers, CA bundle, credentials, platform, plain HTTP...):
   * `@trident/remote-source`'s own options, passed to `openSource` as they are (the run's signal
   * added). May hold credentials: never print a request or plan as it is.
   */
  source?: OpenSourceOptions;
}

export interface PlannedImage {
  /** Host Configuration-style id (`partition-1`) or the config's partition id. */
  id: string;
  /** Index into `Plan.targets` of the disk this image goes to. */
  targetIndex: number;
  partitionNumber: number;
  imagePath: string;
  /** Absolute byte offset on the target disk. */
  offset: number;
  /** Bytes available (the partition size). */
  length: number;
  compressedSize: number;
  uncompressedSize: number;
  sha384: string;
  mountPoint: string | undefined;
  fsType: string | undefined;
  /** The filesystem will be grown after writing (shrunk image, resize enabled, ext2/3/4). */
  grow: boolean;
}

export interface PlannedNewFilesystem {
  /** The Host Configuration device id. */
  id: string;
  targetIndex: number;
  fsType: 'ext4' | 'xfs' | 'vfat' | 'ntfs' | 'swap';
  offset: number;
  length: number;
  mountPoint: string | undefined;
}

export interface PlannedTarget {
  kind: 'disk' | 'image-file';
  path: string;
  /** Size the target has (or will have, for a new image file). */
  size: number;
  sectorSize: number;
  /** Whether the file will be created (sparse) by the run. */
  create: boolean;
  /** Image files: an existing file at `path` may be replaced (`overwrite`, the CLI's `--force`). */
  replace?: boolean;
  /**
   * Image files: the existing file is opened as it is, never truncated or resized (install keeps
   * adopted partitions in it).
   */
  keepContents?: boolean;
  /** Bytes this target must hold (install: per disk); defaults to the plan's `requiredSize`. */
  requiredSize?: number;
  /** For auto selection: every disk looked at, with why it was skipped. */
  considered?: Array<{ path: string; size: number; chosen: boolean; reason?: string }>;
}

export interface Plan {
  request: EngineRequest;
  source: { url: string; metadataSha384: string; cosiVersion: string; osArch: string; size: number };
  /** Bytes the image's disk needs. */
  requiredSize: number;
  lbaSize: 512 | 4096;
  targets: PlannedTarget[];
  images: PlannedImage[];
  /** Filesystems (and swap areas) to create (install), by device id. */
  newFilesystems: PlannedNewFilesystem[];
  /** Ordered human-readable steps; what `--dry-run` prints. */
  steps: string[];
  warnings: string[];
  concurrency: number;
  /** Why `concurrency` is what it is: the memory budget, what is in use, what each writer needs. */
  memory?: string;
}

export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

export type EngineEvent =
  | { type: 'started'; time: number; plan: Plan }
  | { type: 'log'; time: number; level: LogLevel; message: string; target: string }
  | {
      type: 'progress';
      time: number;
      phase: 'wipe' | 'write' | 'verify' | 'gpt' | 'grow' | 'sync' | 'mkfs';
      /** Image id, when the phase is per image. */
      image?: string;
      bytes: number;
      total: number;
      /** Bytes per second over the recent window. */
      rate: number;
      /** Seconds left, when it can be estimated. */
      eta?: number;
    }
  | { type: 'completed'; time: number; result: RunResult };

/** Trident's error categories; the datastore's `lastError.category` records the same names. */
export type TridentErrorKindName = TridentKindName;

/** A failure in Trident's terms: what the daemon puts in `Completed.error` unchanged. */
export interface TridentErrorInfo {
  kind: TridentErrorKindName;
  /** Kebab-case subkind, e.g. `load-cosi`, `no-suitable-disk`, `corrupt-os-image`. */
  subkind: string;
  /** One line: what failed. */
  errorMessage: string;
  /** The whole chain, newest context first, as Trident's multi-line message. */
  message: string;
  /** The stable code of the underlying error (ours, e.g. `ZSTD_HASH_MISMATCH`). */
  code: string;
}

export interface RunResult {
  status: 'success' | 'failure';
  /** `sha384:<hex>` of the COSI metadata (set even when the request said `ignored`). */
  imageHash?: string;
  servicingKind?: 'clean-install' | 'ab-update' | 'runtime-update';
  /** A reboot is needed to boot what was written (real disks); false for image files. */
  rebootRequired: boolean;
  error?: TridentErrorInfo;
  /** Seconds per phase and bytes written, for the summary line. */
  stats?: { elapsed: number; bytesWritten: number; compressedBytes: number };
}

export interface RunOptions {
  signal?: AbortSignal;
  onEvent?: (event: EngineEvent) => void;
  /**
   * Called after every 16 MiB of image data streamed. Node frees the buffers network and file
   * reads allocate only when V8 collects their wrappers, which it does lazily (about 64 MiB of
   * garbage); apps pass a young-generation GC here (`createReclaimer`) to keep memory flat and low.
   */
  reclaimMemory?: () => void;
}
