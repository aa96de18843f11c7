import { DEFAULT_DATASTORE_PATH, resolveDatastorePath } from '@trident/datastore';
import { describe, expect, test } from 'vitest';
import { isDaemonError } from './errors.ts';
import { TridentErrorKind } from './gen/trident/v1/error_pb.ts';
import { encodeGrpcMessage } from './grpc-message.ts';
import { DEFAULT_REBOOT_COMMAND, DEFAULT_SOCKET_PATH, durationOption, parseDaemonArgs } from './options.ts';
import { createProgressThrottle, formatProgress } from './progress.ts';
import { toProtoErrorKind } from './wire.ts';

describe('parseDaemonArgs', () => {
  test('defaults match Trident', () => {
    const { options } = parseDaemonArgs([], {});
    expect(options).toMatchObject({
      socketPath: DEFAULT_SOCKET_PATH,
      tcp: undefined,
      inactivityTimeoutMs: 300_000,
      stopMode: 'finish',
      cancelOnDisconnect: false,
      rebootCommand: DEFAULT_REBOOT_COMMAND,
      rebootWaitMs: 600_000,
      streamTarget: undefined,
    });
  });

  test('--datastore names the datastore StatusService reads; without it, trident.conf or the default', () => {
    expect(parseDaemonArgs(['--datastore', '/srv/ds.sqlite'], {}).options.datastorePath).toBe(
      '/srv/ds.sqlite',
    );
    // Whatever this host's /etc/trident/trident.conf names (usually nothing: Trident's default).
    const fromConf = resolveDatastorePath(undefined);
    expect(parseDaemonArgs([], {}).options.datastorePath).toBe(fromConf);
    expect(resolveDatastorePath(undefined, '/nonexistent/trident.conf')).toBe(DEFAULT_DATASTORE_PATH);
  });

  test('options and environment', () => {
    const { options } = parseDaemonArgs(
      [
        '--socket-path',
        '/tmp/x.sock',
        '--listen-tcp',
        '127.0.0.1:5000',
        '--inactivity-timeout',
        '1m30s',
        '--on-stop',
        'abort',
        '--install-disk',
        'os=/tmp/os.img',
      ],
      {
        TRIDENT_REBOOT_COMMAND: 'true',
        TRIDENT_STREAM_TARGET: '/tmp/t.img',
        TRIDENT_CANCEL_ON_DISCONNECT: '1',
      },
    );
    expect(options).toMatchObject({
      socketPath: '/tmp/x.sock',
      tcp: { host: '127.0.0.1', port: 5000 },
      inactivityTimeoutMs: 90_000,
      stopMode: 'abort',
      cancelOnDisconnect: true,
      rebootCommand: 'true',
      streamTarget: { kind: 'image-file', path: '/tmp/t.img', overwrite: true },
      installDisks: { os: { kind: 'image-file', path: '/tmp/os.img', overwrite: true } },
    });
  });

  test('--memory-limit, else TRIDENT_MEMORY_LIMIT, else none (the engine reads the cgroup limit)', () => {
    expect(parseDaemonArgs([], {}).options.memoryLimit).toBeUndefined();
    expect(parseDaemonArgs(['--memory-limit', '200M'], {}).options.memoryLimit).toBe(200 * 1024 * 1024);
    expect(parseDaemonArgs([], { TRIDENT_MEMORY_LIMIT: '1GiB' }).options.memoryLimit).toBe(1024 ** 3);
    expect(
      parseDaemonArgs(['--memory-limit', '4096'], { TRIDENT_MEMORY_LIMIT: '1G' }).options.memoryLimit,
    ).toBe(4096);
  });

  test.each([
    [['--on-stop', 'later']],
    [['--inactivity-timeout', '5 parsecs']],
    [['--listen-tcp', 'nowhere']],
    [['--nope']],
    [['-v', 'loud']],
    [['--memory-limit', 'lots']],
    [['--memory-limit', '0']],
  ])('%o is refused with DAEMON_INVALID_OPTION', (argv) => {
    expect(() => parseDaemonArgs(argv, {})).toThrow(
      expect.objectContaining({ code: 'DAEMON_INVALID_OPTION' }),
    );
    try {
      parseDaemonArgs(argv, {});
    } catch (error) {
      expect(isDaemonError(error, 'DAEMON_INVALID_OPTION')).toBe(true);
    }
  });
});

test('durationOption reads humantime-style values', () => {
  expect(durationOption('300s', 'x')).toBe(300_000);
  expect(durationOption('5m', 'x')).toBe(300_000);
  expect(durationOption('1h30m', 'x')).toBe(5_400_000);
  expect(durationOption('250ms', 'x')).toBe(250);
  expect(durationOption('0', 'x')).toBe(0);
  expect(durationOption('2.5', 'x')).toBe(2500);
});

test('grpc-message is percent-encoded as the gRPC spec says (not encodeURIComponent)', () => {
  expect(encodeGrpcMessage("Invalid image URL 'x': relative URL")).toBe(
    "Invalid image URL 'x': relative URL",
  );
  expect(encodeGrpcMessage('100% sûr\n')).toBe('100%25 s%C3%BBr%0A');
});

test('engine kinds map to the proto enum; unknown ones become INTERNAL_ERROR', () => {
  expect(toProtoErrorKind('INVALID_INPUT_ERROR')).toBe(TridentErrorKind.INVALID_INPUT_ERROR);
  expect(toProtoErrorKind('UNSUPPORTED_CONFIGURATION_ERROR')).toBe(7);
  expect(toProtoErrorKind('SOMETHING_ELSE')).toBe(TridentErrorKind.INTERNAL_ERROR);
});

describe('progress lines', () => {
  const event = (time: number, bytes: number) =>
    ({
      type: 'progress',
      time,
      phase: 'write',
      image: 'partition-2',
      bytes,
      total: 4 * 1048576,
      rate: 1048576,
      eta: 2,
    }) as const;

  test('format', () => {
    expect(formatProgress(event(0, 1048576))).toBe(
      'Progress: write partition-2: 25% (1.0 MiB of 4.0 MiB) at 1.0 MiB/s, ETA 2s',
    );
  });

  test('at most one line per 500 ms per image, plus the 100% line once', () => {
    const throttle = createProgressThrottle(500);
    const lines = [0, 100, 499, 500, 900, 1000, 1001, 1002].map((time, i) =>
      throttle(event(time, i < 6 ? i * 1000 : 4 * 1048576)),
    );
    expect(lines.map((l) => l !== undefined)).toEqual([true, false, false, true, false, true, true, false]);
  });
});
