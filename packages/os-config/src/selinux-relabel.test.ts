import { describe, expect, it } from 'vitest';
import { finalSelinuxMode } from './selinux-relabel.ts';

describe('final SELinux mode (upstream calculate_final_selinux_state)', () => {
  const image = [undefined, 'disabled', 'permissive', 'enforcing'] as const;
  const row = (hc: (typeof image)[number]) =>
    image.map((os) => {
      try {
        return finalSelinuxMode(hc, os) ?? 'none';
      } catch (error) {
        return (error as { code: string }).code;
      }
    });

  it('follows the image when the Host Configuration says nothing', () => {
    expect(row(undefined)).toEqual(['none', 'disabled', 'permissive', 'enforcing']);
  });
  it('disabled wins, and is nothing where there is no SELinux', () => {
    expect(row('disabled')).toEqual(['none', 'disabled', 'disabled', 'disabled']);
  });
  it('permissive and enforcing win, and are refused where there is no SELinux', () => {
    expect(row('permissive')).toEqual([
      'OS_CONFIG_SELINUX_NOT_FOUND',
      'permissive',
      'permissive',
      'permissive',
    ]);
    expect(row('enforcing')).toEqual(['OS_CONFIG_SELINUX_NOT_FOUND', 'enforcing', 'enforcing', 'enforcing']);
  });
});
