import { defineConfig } from 'vitest/config';

// One vitest run over every workspace package. Sources are resolved through the
// `@trident/source` export condition, so tests never run a stale `dist`.
const conditions = ['@trident/source', 'node', 'import', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'tests/*/src/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
