import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { patternBytes } from '@trident/test-support/fault-server';
import { type HostileRegistry, startHostileRegistry } from '@trident/test-support/hostile-registry';
import { trackResources } from '@trident/test-support/resource-use';
import { CHANNEL_RETRY, type RetryEvent } from '../diagnostics.ts';
import { RemoteSourceError } from '../errors.ts';
import { MEDIA_COSI_LAYER, MEDIA_OCI_EMPTY, MEDIA_OCI_MANIFEST } from '../media-types.ts';
import type { OciOptions } from '../oci-registry.ts';
import { openOciSource } from '../oci-source.ts';

// Shared by the tests that attack the sources with the hostile server and registry. Limits are small so
// every attack ends in seconds; memory is measured so none can make the client buffer what it sends.

export const MiB = 1024 * 1024;
/**
 * Bound on how long an attack may take: seconds, where the unbounded behaviour takes minutes to
 * days. Generous because the suite shares two cores; "at once, not retried" is checked by counting
 * retries instead (`retriesDuring`).
 */
export const SECONDS = 15_000;
/** The most a hostile-input test may let the process grow. */
export const MEMORY_BOUND = 64 * MiB;
export const SIZE = 300 * 1024 + 5;
/** Stand-in COSI bytes: this package never parses them. */
export const cosi = patternBytes(0, SIZE, 5);

/** Quick retries, no Docker config of the machine running the tests. */
export const fast: OciOptions = {
  dockerConfig: false,
  retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 20 },
  idleTimeoutMs: 2000,
};

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface FixtureRegistry {
  registry: HostileRegistry;
  /** The `cosi` blob as a COSI layer. */
  layer: Descriptor;
  config: Descriptor;
  /** An OCI image manifest with these layers (default: the one COSI layer). */
  manifest(layers?: unknown[]): object;
  ref(repo: string, tag?: string): string;
}

/** A hostile registry holding the stand-in COSI and an empty config blob. */
export async function startFixtureRegistry(
  options: Parameters<typeof startHostileRegistry>[0] = {},
): Promise<FixtureRegistry> {
  const registry = await startHostileRegistry(options);
  const layer = { mediaType: MEDIA_COSI_LAYER, digest: registry.putBlob(cosi), size: SIZE };
  const config = { mediaType: MEDIA_OCI_EMPTY, digest: registry.putBlob(Buffer.from('{}')), size: 2 };
  return {
    registry,
    layer,
    config,
    manifest: (layers = [layer]) => ({ schemaVersion: 2, mediaType: MEDIA_OCI_MANIFEST, config, layers }),
    ref: (repo, tag = 'v1') => `oci://${registry.host}/${repo}:${tag}`,
  };
}

/** Runs `run`, expects a RemoteSourceError, and reports what it cost: time, memory, retries. */
export async function hostile(run: () => Promise<unknown>) {
  const { value: use, retries } = await retriesDuring(() => trackResources(run));
  if (use.result.ok) throw new Error('expected a RemoteSourceError, the operation succeeded');
  const error = use.result.error;
  if (!(error instanceof RemoteSourceError)) throw error;
  return { error, elapsedMs: use.elapsedMs, rss: use.peakRssGrowth, retries: retries.length };
}

/** Opens `reference` as an OCI source and expects it to be refused (see `hostile`). */
export async function refused(reference: string, options: OciOptions = fast) {
  return hostile(async () => {
    const source = await openOciSource(reference, options);
    await source.close();
  });
}

/** The retries (`trident:remote-source:retry` events) published while `run` ran. */
export async function retriesDuring<T>(run: () => Promise<T>): Promise<{ value: T; retries: RetryEvent[] }> {
  const retries: RetryEvent[] = [];
  const listener = (event: unknown) => retries.push(event as RetryEvent);
  subscribe(CHANNEL_RETRY, listener);
  try {
    return { value: await run(), retries };
  } finally {
    unsubscribe(CHANNEL_RETRY, listener);
  }
}
