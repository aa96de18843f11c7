/**
 * What the native verifier (`cosi validate`, `cosi inspect` checks: decode and hash, output
 * discarded) holds besides its zstd window. Exported so the engine's memory plan
 * (`verifierBytes`) counts exactly these.
 */

/** Compressed bytes queued into a verifier before the reader waits. */
export const VERIFY_QUEUE_BYTES = 2 * 1024 * 1024;
/**
 * Each of the verifier's three output buffers. The output goes to /dev/null, so nothing is gained
 * by large writes: 256 KiB rather than the writer's 2 MiB keeps 5 MiB less on the heap at the
 * same wall time (`pnpm bench:memory`, issue 14).
 */
export const VERIFY_BUFFER_BYTES = 256 * 1024;
/** Output buffers in the decoder's ring (zstd-native's buffered decoder). */
export const VERIFY_BUFFERS = 3;
