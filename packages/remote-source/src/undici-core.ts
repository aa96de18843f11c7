import { createRequire } from 'node:module';
import type { Dispatcher, EnvHttpProxyAgent as EnvHttpProxyAgentClass } from 'undici';

/**
 * The parts of undici this package uses, loaded without undici's index.
 *
 * The index (`require('undici')`) loads the whole library: fetch, WebSocket, EventSource, mock
 * agents, cache stores, interceptors. None of it is used here, and it cost every `trident` run 5 MiB
 * of V8 heap and 12 MiB of peak RSS at start-up (`pnpm bench:memory`, issue 14). Here only the
 * dispatchers and the `request` API are loaded.
 *
 * undici has no `exports` map, so these paths are public in practice but not a stable API. The
 * version is pinned by the lockfile, and `undici-core.test.ts` checks that every path still resolves
 * to what the index would have given.
 *
 * `require` rather than `import`: an ESM import of a CommonJS file loads Node's CommonJS export
 * lexer (50 KiB of source on the heap) to find its named exports.
 */
// Resolved from this package's root (its own name finds it from `src/`, `dist/` and the CLI's
// bundle alike), where undici is a dependency.
const require = createRequire(createRequire(import.meta.url).resolve('@trident/remote-source/package.json'));

/** The paths, kept in one list for the test that checks them against the index. */
export const UNDICI_PATHS = {
  dispatcher: 'undici/lib/dispatcher/dispatcher.js',
  api: 'undici/lib/api/index.js',
  envHttpProxyAgent: 'undici/lib/dispatcher/env-http-proxy-agent.js',
} as const;

type DispatcherApi = Pick<Dispatcher, 'request' | 'stream' | 'pipeline' | 'connect' | 'upgrade'>;

const DispatcherClass = require(UNDICI_PATHS.dispatcher) as { prototype: DispatcherApi };
// What the index does on load: the request APIs are methods of every dispatcher. The proxy agent
// relies on it (it tunnels with `client.connect`), and so does `request` below.
Object.assign(DispatcherClass.prototype, require(UNDICI_PATHS.api) as DispatcherApi);

/** undici's `EnvHttpProxyAgent`: an agent that honours HTTP(S)_PROXY and NO_PROXY. */
export const EnvHttpProxyAgent = require(UNDICI_PATHS.envHttpProxyAgent) as typeof EnvHttpProxyAgentClass;

/** undici's `request(url, { dispatcher, ... })`, on a dispatcher the caller always gives. */
export function request(
  dispatcher: Dispatcher,
  url: URL,
  options: Omit<Dispatcher.RequestOptions, 'origin' | 'path'>,
): Promise<Dispatcher.ResponseData> {
  return dispatcher.request({ ...options, origin: url.origin, path: `${url.pathname}${url.search}` });
}
