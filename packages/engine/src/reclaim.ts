import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * For apps (the engine never calls this itself: it changes a process-wide V8 flag).
 * A full garbage collection, for the engine's `reclaimMemory` hook: buffers from network and file
 * reads are freed only when V8 collects them, which it otherwise does after ~64 MiB of garbage.
 * Collecting every 16 MiB of image data keeps stream-disk well under 200 MiB of RSS (see
 * `pnpm bench:e2e`). `--expose-gc` set at run time makes `gc` available to new contexts.
 */
export function createReclaimer(): (() => void) | undefined {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? () => (gc as () => void)() : undefined;
  } catch {
    return undefined;
  }
}
