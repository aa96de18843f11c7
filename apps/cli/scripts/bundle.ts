/**
 * Bundles the compiled CLI (`dist/`, with every workspace package and JavaScript dependency it
 * imports) into `bundle/`: the code `bin/trident.js` runs and the agent package ships.
 *
 * Why: each of the ~450 ES modules a `trident install` loads costs V8 a module record, an
 * environment and the source text (with its comments) on the heap. One entry plus the chunks that
 * keep the lazily loaded commands lazy took 5-6 MiB off the peak RSS of an install of the 1 GiB
 * bench disk and 0.3 s of CPU at start-up (`pnpm bench:memory`, issue 14). Not minified: the
 * names in stack traces stay readable, and minifying measured no lower.
 *
 * What stays outside: Node's builtins, the native addon (`@trident/zstd-native` requires its
 * `.node` file at run time) and undici, which `@trident/remote-source` requires by deep path at run
 * time so its index stays unloaded. Both are required from the root of the package that needs
 * them, found by that package's own name (`require.resolve('<name>/package.json')`), so they
 * resolve the same from `dist/` and from here.
 */
import { rm } from 'node:fs/promises';
import { build } from 'rolldown';

const root = new URL('..', import.meta.url).pathname;
const out = `${root}bundle`;

await rm(out, { recursive: true, force: true });
await build({
  cwd: root,
  input: { trident: 'dist/main.js' },
  platform: 'node',
  logLevel: 'warn',
  output: {
    dir: out,
    format: 'esm',
    entryFileNames: '[name].js',
    chunkFileNames: 'chunks/[name]-[hash].js',
    comments: { legal: false, annotation: false, jsdoc: false },
  },
});
