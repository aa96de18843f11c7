import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const moduleFile = path.join(import.meta.dirname, 'undici-core.ts');

describe('undici-core', () => {
  it("loads undici's dispatchers and request API without its index, and they are the index's own", () => {
    // A fresh process: this test's own module cache may hold undici's index already.
    const script = `
      import { createRequire } from 'node:module';
      import { EnvHttpProxyAgent, UNDICI_PATHS } from ${JSON.stringify(pathToFileURL(moduleFile).href)};
      const require = createRequire(${JSON.stringify(moduleFile)});
      const indexLoaded = require.resolve('undici') in require.cache;
      const undici = require('undici');
      const api = require(UNDICI_PATHS.api);
      console.log(JSON.stringify({
        indexLoaded,
        sameAgent: EnvHttpProxyAgent === undici.EnvHttpProxyAgent,
        sameDispatcher: require(UNDICI_PATHS.dispatcher) === undici.Dispatcher,
        apiMethods: ['request', 'stream', 'pipeline', 'connect', 'upgrade'].every(
          (name) => typeof api[name] === 'function' && undici.Dispatcher.prototype[name] === api[name],
        ),
      }));
    `;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({
      indexLoaded: false,
      sameAgent: true,
      sameDispatcher: true,
      apiMethods: true,
    });
  });
});
