/**
 * Loads the napi-rs addon through the generated `binding.cjs` (never hand-edited). A failure is
 * remembered, not thrown: the caller decides between a coded error and an explicit fallback.
 */
import { createRequire } from 'node:module';
import type * as Binding from '../binding.cjs';

export type NativeBinding = typeof Binding;

let loaded: { binding: NativeBinding } | { error: Error } | undefined;

export function loadNative(): { binding: NativeBinding } | { error: Error } {
  if (loaded === undefined) {
    try {
      // Found from the package's root, which the package's own name resolves to from `src/`,
      // `dist/` and the CLI's bundle (apps/cli/scripts/bundle.ts) alike.
      const root = createRequire(import.meta.url).resolve('@trident/zstd-native/package.json');
      const binding = createRequire(root)('./binding.cjs') as NativeBinding;
      loaded = { binding };
    } catch (err) {
      loaded = { error: err instanceof Error ? err : new Error(String(err)) };
    }
  }
  return loaded;
}

export const BUILD_HINT =
  'build it with `pnpm --filter @trident/zstd-native build` (needs cargo; see tools/setup.sh), ' +
  "or choose a fallback explicitly: codec: 'node-zlib' | 'simple-zstd' | 'auto', or TRIDENT_ZSTD_CODEC=node-zlib";
