import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { datastorePathFromAgentConfig, resolveDatastorePath } from './agent-config.ts';
import { DEFAULT_DATASTORE_PATH } from './datastore.ts';

describe('datastore location (trident.conf DatastorePath=)', () => {
  it('takes the last DatastorePath= line, trimmed; ignores others', () => {
    expect(
      datastorePathFromAgentConfig(
        '# comment\nDatastorePath=/a.sqlite\nOther=x\nDatastorePath= /b.sqlite \n',
      ),
    ).toBe('/b.sqlite');
    expect(datastorePathFromAgentConfig(' DatastorePath=/indented\nDatastorePath=\n')).toBeUndefined();
  });

  it('prefers the explicit path, then the agent configuration, then the default', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-config-'));
    try {
      const conf = join(dir, 'trident.conf');
      expect(resolveDatastorePath(undefined, conf)).toBe(DEFAULT_DATASTORE_PATH); // no file
      writeFileSync(conf, 'DatastorePath=/srv/trident/ds.sqlite\n');
      expect(resolveDatastorePath(undefined, conf)).toBe('/srv/trident/ds.sqlite');
      expect(resolveDatastorePath('/explicit.sqlite', conf)).toBe('/explicit.sqlite');
      writeFileSync(conf, 'Nothing=here\n');
      expect(resolveDatastorePath(undefined, conf)).toBe(DEFAULT_DATASTORE_PATH);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
