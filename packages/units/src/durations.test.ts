import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './durations.ts';

describe('the duration grammar', () => {
  it.each([
    ['300s', 300_000],
    ['5m', 300_000],
    ['10min', 600_000],
    ['2sec', 2000],
    ['1h30m', 5_400_000],
    ['1h 30m', 5_400_000],
    ['250ms', 250],
    ['1.5h', 5_400_000],
    [' 45 ', 45_000],
    ['2.5', 2500],
    ['0', 0],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '10x', '1h30', '-5s', 's', '5M', 'none', '1e3s'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('reads command-line spellings through the same parser when relaxed', () => {
    expect(parseDuration('none', { relaxed: true })).toBe(0);
    expect(parseDuration('OFF', { relaxed: true })).toBe(0);
    expect(parseDuration('30S', { relaxed: true })).toBe(30_000);
    expect(parseDuration('never', { relaxed: true })).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it.each([
    [500, '500 ms'],
    [90_000, '90 s'],
    [1500, '1.5 s'],
    [600_000, '10 min'],
    [5_400_000, '90 min'],
    [9_000_000, '2.5 h'],
  ])('shows %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
