import { describe, expect, it } from 'vitest';
import { rebootStarted } from './reboot.ts';

describe('rebootStarted', () => {
  it('exit 0, or systemctl ended by the shutdown it started, is a reboot under way', () => {
    expect(rebootStarted({ status: 0, signal: null, error: undefined })).toBe(true);
    expect(rebootStarted({ status: null, signal: 'SIGTERM', error: undefined })).toBe(true);
  });

  it('a non-zero exit, a missing systemctl or a timeout is a failure', () => {
    expect(rebootStarted({ status: 1, signal: null, error: undefined })).toBe(false);
    expect(
      rebootStarted({ status: null, signal: null, error: new Error('spawnSync systemctl ENOENT') }),
    ).toBe(false);
    expect(
      rebootStarted({ status: null, signal: 'SIGTERM', error: new Error('spawnSync systemctl ETIMEDOUT') }),
    ).toBe(false);
  });
});
