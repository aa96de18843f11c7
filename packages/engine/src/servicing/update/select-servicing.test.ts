import { parseHostConfig } from '@trident/host-config';
import { describe, expect, it } from 'vitest';
import { abConfig } from '../../test-support/host-configs.ts';
import {
  changedStorage,
  checkStorageUnchanged,
  sameConfiguration,
  selectServicingType,
} from './select-servicing.ts';

const HASH = 'a'.repeat(96);
const parse = (text: string) => {
  const parsed = parseHostConfig(text);
  if (!parsed.config) throw new Error(JSON.stringify(parsed.findings));
  return parsed.config;
};
const base = (extra = '', hash = HASH, url = 'file:///img.cosi') => parse(abConfig(url, hash, extra));

describe('selectServicingType (upstream select_servicing_type)', () => {
  it('an identical configuration needs nothing', () => {
    expect(selectServicingType(base(), base())).toEqual({ type: 'none', reasons: [] });
  });

  it('a new image hash is an A/B update; the same hash at a new URL is not', () => {
    expect(selectServicingType(base('', 'b'.repeat(96)), base())).toEqual({
      type: 'ab-update',
      reasons: ['image sha384 changed'],
    });
    expect(selectServicingType(base('', HASH, 'https://mirror/img.cosi'), base()).type).toBe('none');
  });

  it("an 'ignored' hash with a new URL is an A/B update", () => {
    const next = base('', 'ignored', 'https://new/img.cosi');
    const old = base('', 'ignored');
    expect(selectServicingType(next, old).reasons).toEqual(["image url changed (sha384 is 'ignored')"]);
  });

  it('OS settings only a new root applies vote A/B, with each reason', () => {
    const selection = selectServicingType(
      base('os:\n  hostname: h2\n  kernelCommandLine:\n    extraCommandLine: [quiet]\n'),
      base('os:\n  hostname: h1\n'),
    );
    expect(selection.type).toBe('ab-update');
    expect(selection.reasons).toEqual(['os.hostname changed', 'os.kernelCommandLine changed']);
  });

  it('scripts in the new configuration vote A/B even when unchanged (upstream hooks subsystem)', () => {
    const scripts = 'scripts:\n  postConfigure:\n    - name: s\n      runOn: [all]\n      content: "true"\n';
    expect(selectServicingType(base(scripts), base(scripts)).type).toBe('ab-update');
  });

  it('netplan, extensions and additional files are a runtime update', () => {
    const netplan = 'os:\n  netplan:\n    version: 2\n    ethernets:\n      e:\n        dhcp4: true\n';
    expect(selectServicingType(base(netplan), base())).toEqual({
      type: 'runtime-update',
      reasons: ['os.netplan changed'],
    });
  });

  it('sysext paths recorded by a servicing do not read as a change; a new URL or hash does', () => {
    const ext = (url: string, hash: string, path = '') =>
      `os:\n  sysexts:\n    - url: ${url}\n      sha384: ${hash}\n${path ? `      path: ${path}\n` : ''}`;
    const recorded = base(ext('https://h/a.raw', 'b'.repeat(96), '/var/lib/extensions/a.raw'));
    const user = base(ext('https://h/a.raw', 'b'.repeat(96)));
    expect(selectServicingType(user, recorded).type).toBe('none');
    expect(sameConfiguration(user, recorded)).toBe(true);
    expect(selectServicingType(base(ext('https://h/a2.raw', 'b'.repeat(96))), recorded)).toEqual({
      type: 'runtime-update',
      reasons: ['os.sysexts changed'],
    });
    expect(sameConfiguration(base(ext('https://h/a.raw', 'c'.repeat(96))), recorded)).toBe(false);
    expect(
      sameConfiguration(base(ext('https://h/a.raw', 'b'.repeat(96), '/etc/extensions/a.raw')), recorded),
    ).toBe(false);
  });

  it('health and trident settings alone need nothing', () => {
    const health = 'health:\n  checks:\n    - name: c\n      runOn: [ab-update]\n      content: "true"\n';
    expect(selectServicingType(base(health), base()).type).toBe('none');
  });

  it('removing the image is refused (upstream DeployPartitionImagesAfterOsImage)', () => {
    const noImage = parse(abConfig('file:///x', HASH).replace(/^image:\n.*\n.*\n/u, ''));
    expect(() => selectServicingType(noImage, base())).toThrow(
      expect.objectContaining({ code: 'ENGINE_UPDATE_IMAGE_REMOVED' }),
    );
  });
});

describe('storage an update cannot change', () => {
  it('names every changed section', () => {
    const resized = parse(
      abConfig('file:///img.cosi', HASH).replace(
        'root-b, type: root, size: 64M',
        'root-b, type: root, size: 65M',
      ),
    );
    expect(changedStorage(resized, base())).toEqual(['storage.disks']);
    expect(() => checkStorageUnchanged(resized, base())).toThrow(
      expect.objectContaining({
        tridentError: expect.objectContaining({ subkind: 'storage-configuration-changed' }),
      }),
    );
  });

  it('allowHostConfigStorageChange lets it through, as upstream', () => {
    const resized = parse(
      abConfig('file:///img.cosi', HASH, 'internalParams:\n  allowHostConfigStorageChange: true\n').replace(
        'root-b, type: root, size: 64M',
        'root-b, type: root, size: 65M',
      ),
    );
    expect(() => checkStorageUnchanged(resized, base())).not.toThrow();
  });

  it('filesystem and swap changes are not storage changes an update refuses', () => {
    expect(changedStorage(base(), base())).toEqual([]);
  });
});
