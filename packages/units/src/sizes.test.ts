import { describe, expect, it } from 'vitest';
import { formatBytes, parseByteCount } from './sizes.ts';

describe('the size grammar', () => {
  it.each([
    [4096, 4096],
    ['512', 512],
    [' 300 K ', 300 * 1024],
    ['8G', 8 * 2 ** 30],
    ['1T', 2 ** 40],
    ['+2M', 2 * 2 ** 20],
  ])('Host Configuration reads %j as %d bytes', (text, bytes) => {
    expect(parseByteCount(text)).toBe(bytes);
  });

  it.each(['1.0', '1.0K', '1 0K', '1k', '1B', '1KiB', '-1', 'grow', ''])(
    'Host Configuration refuses %j, as Trident does',
    (text) => {
      expect(parseByteCount(text)).toBeUndefined();
    },
  );

  it('refuses negative, fractional and unsafe numbers', () => {
    expect(parseByteCount(-1)).toBeUndefined();
    expect(parseByteCount(1.5)).toBeUndefined();
    expect(parseByteCount('9999999999T')).toBeUndefined();
  });

  it('reads command-line spellings through the same parser when relaxed', () => {
    expect(parseByteCount('8GiB', { relaxed: true })).toBe(8 * 2 ** 30);
    expect(parseByteCount('512mb', { relaxed: true })).toBe(512 * 2 ** 20);
    expect(parseByteCount('1.5K', { relaxed: true })).toBeUndefined();
    expect(parseByteCount('1.5K', { relaxed: true, fractions: true })).toBe(1536);
    expect(parseByteCount('8 GB/s', { relaxed: true })).toBeUndefined();
  });
});

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [64 * 2 ** 20, '64.0 MiB'],
    [512 * 2 ** 30, '512 GiB'],
    [3 * 2 ** 50, '3072 TiB'],
  ])('shows %d bytes as %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

describe('formatBytes, compact (error messages)', () => {
  it.each([
    [12, '12 B'],
    [64 * 1024, '64 KiB'],
    [1536, '1.5 KiB'],
    [4 * 2 ** 20, '4 MiB'],
    [150.5 * 2 ** 20, '150.5 MiB'],
  ])('shows %d bytes as %s', (bytes, text) => {
    expect(formatBytes(bytes, { compact: true })).toBe(text);
  });
});
