import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configureAgentConfig, datastorePathFromAgentConfig, resolveDatastorePath } from './agent-config.ts';
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

  it('configures the new root as Trident does: keeps a matching file, writes one only when needed', () => {
    const root = mkdtempSync(join(tmpdir(), 'newroot-'));
    const conf = join(root, 'etc/trident/trident.conf');
    try {
      // Default path, no file: nothing to write.
      expect(configureAgentConfig(root, DEFAULT_DATASTORE_PATH)).toBe('not-needed');
      expect(existsSync(conf)).toBe(false);
      // Non-default path into a verity root without a file: refused, nothing written.
      expect(() => configureAgentConfig(root, '/var/lib/ds/x.sqlite', { rootVerity: true })).toThrow(
        expect.objectContaining({ code: 'DATASTORE_AGENT_CONFIG_MISMATCH', path: conf }),
      );
      expect(existsSync(conf)).toBe(false);
      // Non-default path: written, and then read back by the resolver.
      expect(configureAgentConfig(root, '/var/lib/ds/x.sqlite')).toBe('written');
      expect(readFileSync(conf, 'utf8')).toBe('DatastorePath=/var/lib/ds/x.sqlite\n');
      expect(resolveDatastorePath(undefined, conf)).toBe('/var/lib/ds/x.sqlite');
      expect(configureAgentConfig(root, '/var/lib/ds/x.sqlite')).toBe('kept');
      // The image's file names another path: refused, with both paths in the message.
      expect(() => configureAgentConfig(root, DEFAULT_DATASTORE_PATH)).toThrow(
        expect.objectContaining({
          code: 'DATASTORE_AGENT_CONFIG_MISMATCH',
          subkind: 'image-bad-agent-configuration',
          message: expect.stringContaining(
            `puts the datastore at /var/lib/ds/x.sqlite, but the Host Configuration says ${DEFAULT_DATASTORE_PATH}`,
          ),
        }),
      );
      // A file without DatastorePath= means the default.
      writeFileSync(conf, '# nothing\n');
      expect(configureAgentConfig(root, DEFAULT_DATASTORE_PATH)).toBe('kept');
      // /etc/trident that cannot hold a file: a coded write failure.
      rmSync(join(root, 'etc'), { recursive: true });
      mkdirSync(join(root, 'etc'));
      writeFileSync(join(root, 'etc/trident'), 'a file where the directory should be');
      expect(() => configureAgentConfig(root, '/var/lib/ds/x.sqlite')).toThrow(
        expect.objectContaining({ code: 'DATASTORE_WRITE_FAILED' }),
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
