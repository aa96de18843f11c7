import { describe, expect, it } from 'vitest';
import { RemoteSourceError } from './errors.ts';
import { choosePlatform, formatPlatform, normalizePlatform, parsePlatform } from './platform.ts';

describe('platforms', () => {
  it.each([
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/aarch64', 'linux/arm64'],
    ['linux/arm64/8', 'linux/arm64'],
    ['linux/arm64/v9', 'linux/arm64/v9'],
    ['linux/x86_64', 'linux/amd64'],
    ['linux/x86-64', 'linux/amd64'],
    ['linux/amd64/v1', 'linux/amd64'],
    ['linux/amd64/v3', 'linux/amd64/v3'],
    ['linux/armhf', 'linux/arm/v7'],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/6', 'linux/arm/v6'],
    ['linux/i386', 'linux/386'],
    ['Linux/AMD64', 'linux/amd64'],
    ['macos/arm64', 'darwin/arm64'],
  ])('normalises %s to %s (containerd rules)', (given, expected) => {
    expect(formatPlatform(normalizePlatform(parsePlatform(given)))).toBe(expected);
  });

  it('picks the exact normalised entry, then any variant when none was asked for', () => {
    const entries = [
      { name: 'arm-v6', platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
      { name: 'arm-v7', platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      { name: 'arm64', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ];
    expect(choosePlatform(entries, parsePlatform('linux/arm'))?.name).toBe('arm-v7');
    expect(choosePlatform(entries, parsePlatform('linux/armel'))?.name).toBe('arm-v6');
    expect(choosePlatform(entries, parsePlatform('linux/aarch64'))?.name).toBe('arm64');
    expect(choosePlatform(entries, parsePlatform('linux/arm64/v9'))).toBeUndefined();
    expect(choosePlatform(entries.slice(0, 1), parsePlatform('linux/arm'))?.name).toBe('arm-v6');
    const only: Array<{ name: string; platform?: { os: string; architecture: string } }> = [{ name: 'only' }];
    expect(choosePlatform(only, parsePlatform('linux/s390x'))?.name).toBe('only');
  });

  it.each(['linux', 'linux/', '/amd64', 'linux/arm64/v8/x', 'linux/arm64/'])('refuses %j', (text) => {
    expect(() => parsePlatform(text)).toThrow(RemoteSourceError);
  });
});
