import { describe, expect, test } from 'vitest';
import { isDaemonError } from './errors.ts';
import { readActivation } from './listener.ts';

describe('readActivation (sd_listen_fds)', () => {
  test('no LISTEN_FDS, or 0: no activation', () => {
    expect(readActivation({}, 10)).toBeUndefined();
    expect(readActivation({ LISTEN_FDS: '0', LISTEN_FDNAMES: '' }, 10)).toBeUndefined();
  });

  test('one fd: fd 3 with its name; the variables are removed from the environment', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_FDS: '1', LISTEN_FDNAMES: 'tridentd.socket', LISTEN_PID: '10' };
    expect(readActivation(env, 10)).toEqual({ fd: 3, name: 'tridentd.socket', foreignPid: undefined });
    expect(env).toEqual({});
  });

  test('names are optional; a foreign LISTEN_PID is reported, not fatal', () => {
    expect(readActivation({ LISTEN_FDS: '1', LISTEN_PID: '99' }, 10)).toEqual({
      fd: 3,
      name: undefined,
      foreignPid: 99,
    });
  });

  test.each([
    [{ LISTEN_FDS: '-1' }, /not a non-negative integer/],
    [{ LISTEN_FDS: 'x' }, /not a non-negative integer/],
    [{ LISTEN_FDS: '1', LISTEN_FDNAMES: 'a:b' }, /must match/],
    [{ LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b' }, /exactly one/],
  ])('%o is refused', (env, message) => {
    let error: unknown;
    try {
      readActivation({ ...env }, 10);
    } catch (e) {
      error = e;
    }
    expect(isDaemonError(error, 'DAEMON_ACTIVATION_INVALID')).toBe(true);
    expect((error as Error).message).toMatch(message);
  });
});
