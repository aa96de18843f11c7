import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHostConfig } from './parse.ts';
import { pathExtension } from './rules/config-checks.ts';

/**
 * Rules re-derived from upstream Trident's static validation (trident_api `validate()` functions
 * and netplan-types), where this package used to differ.
 */

const layout = `storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: 512M }
        - { id: root, type: root, size: 8G }
  filesystems:
    - { deviceId: esp, mountPoint: /boot/efi }
    - { deviceId: root, mountPoint: / }
`;

const codes = (text: string) => parseHostConfig(text).findings.map((f) => [f.severity, f.code, f.path]);
const errors = (text: string) =>
  parseHostConfig(text)
    .findings.filter((f) => f.severity === 'error')
    .map((f) => [f.code, f.path]);

const netplan = (body: string, section = 'os') => `${layout}${section}:\n  netplan:\n${body}`;

describe('netplan (Trident validate_netplan and netplan-types 0.5)', () => {
  it('refuses renderer NetworkManager (UnsupportedNetplanRenderer)', () => {
    for (const section of ['os', 'managementOs']) {
      expect(errors(netplan('    version: 2\n    renderer: NetworkManager\n', section))).toEqual([
        ['HC_NETPLAN_RENDERER', `${section}.netplan.renderer`],
      ]);
    }
  });

  it('accepts networkd and sriov; any other word is an unknown variant', () => {
    expect(errors(netplan('    version: 2\n    renderer: networkd\n'))).toEqual([]);
    expect(errors(netplan('    version: 2\n    renderer: sriov\n'))).toEqual([]);
    expect(errors(netplan('    version: 2\n    renderer: systemd\n'))).toEqual([
      ['HC_UNKNOWN_VARIANT', 'os.netplan.renderer'],
    ]);
  });

  it.each(['eth*', 'en?0', 'eth[0]', 'bad]', 'has space', 'tab\tid', 'ünïcode'])(
    'refuses interface id %j (InvalidInterfaceName)',
    (id) => {
      const result = parseHostConfig(
        netplan(`    version: 2\n    bridges:\n      ${JSON.stringify(id)}:\n        dhcp4: true\n`),
      );
      const hit = result.findings.find((f) => f.code === 'HC_NETPLAN_INTERFACE_NAME');
      expect(hit?.path).toBe(`os.netplan.bridges[${JSON.stringify(id)}]`);
      expect(hit?.line).toBe(16);
      expect(result.ok).toBe(false);
    },
  );

  it.each(['eth0', 'eth0.1', 'eth0:1', 'eth0-1', 'eth0+1', 'eth0_1', '111111', 'l_od/@l-!4(.)%3+#54^23\\n'])(
    'accepts interface id %j',
    (id) => {
      expect(
        errors(
          netplan(`    version: 2\n    ethernets:\n      ${JSON.stringify(id)}:\n        dhcp4: true\n`),
        ),
      ).toEqual([]);
    },
  );

  it('checks ids in every device section Trident reads', () => {
    const sections = ['ethernets', 'wifis', 'bonds', 'bridges', 'vlans', 'tunnels', 'vrfs', 'dummy-devices'];
    const body = sections.map((s) => `    ${s}:\n      "x*": {}\n`).join('');
    expect(errors(netplan(`    version: 2\n${body}`)).map(([, path]) => path)).toEqual(
      sections.map(
        (s) => `os.netplan${/^[A-Za-z_][A-Za-z0-9_-]*$/u.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`}["x*"]`,
      ),
    );
  });

  it('version is a required small integer equal to 2', () => {
    expect(errors(netplan('    version: 3\n'))).toEqual([['HC_NETPLAN_VERSION', 'os.netplan.version']]);
    expect(errors(netplan('    ethernets: {}\n'))).toEqual([['HC_MISSING_FIELD', 'os.netplan.version']]);
    expect(errors(netplan('    version: "2"\n'))).toEqual([['HC_INVALID_TYPE', 'os.netplan.version']]);
    expect(errors(netplan('    version: 300\n'))).toEqual([['HC_OUT_OF_RANGE', 'os.netplan.version']]);
  });

  it('accepts keys Trident does not read, with a warning that they are dropped', () => {
    const result = parseHostConfig(netplan('    version: 2\n    nm-devices:\n      x: {}\n'));
    expect(result.ok).toBe(true);
    expect(codes(netplan('    version: 2\n    nm-devices:\n      x: {}\n'))).toContainEqual([
      'warning',
      'HC_NETPLAN_FIELD_IGNORED',
      'os.netplan.nm-devices',
    ]);
  });
});

describe('other rules matched to upstream', () => {
  it('scripts and health checks need no name (serde default)', () => {
    const text = `${layout}scripts:\n  postConfigure:\n    - runOn: [all]\n      content: "true"\nhealth:\n  checks:\n    - systemdServices: [sshd]\n      runOn: [all]\n      timeoutSeconds: 99999999999\n`;
    expect(errors(text)).toEqual([]);
  });

  it('permissions: any octal string starting with 0 up to 0777, as u32::from_str_radix reads it', () => {
    for (const ok of ['0', '00', '0644', '0777', '000000755']) {
      const text = `${layout}os:\n  additionalFiles:\n    - { destination: /etc/x, content: x, permissions: '${ok}' }\n`;
      expect(errors(text), ok).toEqual([]);
    }
    for (const bad of ['644', '01000', '0778', '0x1ff', '']) {
      const text = `${layout}os:\n  additionalFiles:\n    - { destination: /etc/x, content: x, permissions: '${bad}' }\n`;
      expect(errors(text), bad).toEqual([['HC_INVALID_PERMISSIONS', 'os.additionalFiles[0].permissions']]);
    }
  });

  it("datastore extension is Rust's Path::extension", () => {
    expect(pathExtension('/var/lib/trident/datastore.sqlite')).toBe('sqlite');
    expect(pathExtension('/var/lib/trident/datastore.sqlite/.')).toBe('sqlite');
    expect(pathExtension('/var/lib/trident/.sqlite')).toBeUndefined();
    expect(pathExtension('/var/lib/trident/datastore')).toBeUndefined();
    expect(pathExtension('/var/lib/trident/..')).toBeUndefined();
    const text = `${layout}trident:\n  datastorePath: /var/lib/trident/.sqlite\n`;
    expect(errors(text)).toEqual([['HC_DATASTORE_EXTENSION', 'trident.datastorePath']]);
  });

  it('warns about SELinux with sysexts or confexts, as Trident logs', () => {
    const sha = 'a'.repeat(96);
    const text = `${layout}os:\n  selinux: { mode: permissive }\n  confexts:\n    - { url: 'https://x.example/c.raw', sha384: ${sha} }\n`;
    expect(codes(text)).toContainEqual(['warning', 'HC_SELINUX_WITH_EXTENSIONS', 'os.selinux.mode']);
    expect(parseHostConfig(text).ok).toBe(true);
  });

  it('an extension directory on a verity device whose hash (not data) is an A/B pair is on A/B (has_ab_capabilities)', () => {
    const sha = 'b'.repeat(96);
    const text = `storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: 512M }
        - { id: boot, type: xbootldr, size: 512M }
        - { id: root-data, type: root, size: 4G }
        - { id: hash-a, type: root-verity, size: 256M }
        - { id: hash-b, type: root-verity, size: 256M }
        - { id: state, size: 256M }
        - { id: ov-a, size: 256M }
        - { id: ov-b, size: 256M }
  abUpdate:
    volumePairs:
      - { id: root-hash, volumeAId: hash-a, volumeBId: hash-b }
      - { id: overlay, volumeAId: ov-a, volumeBId: ov-b }
  verity:
    - { id: root, name: root, dataDeviceId: root-data, hashDeviceId: root-hash }
  filesystems:
    - { deviceId: esp, mountPoint: /boot/efi }
    - { deviceId: boot, mountPoint: /boot }
    - { deviceId: root, mountPoint: { path: /, options: ro } }
    - { deviceId: state, source: new, mountPoint: /var/lib/trident }
    - { deviceId: overlay, source: new, mountPoint: /var/lib/trident-overlay }
os:
  sysexts:
    - { url: 'https://x.example/s.raw', sha384: ${sha}, path: /usr/lib/extensions/s.raw }
`;
    expect(errors(text).filter(([code]) => code === 'HC_EXTENSION_NOT_ON_AB')).toEqual([]);
  });
});

describe('documents in the shape of the upstream samples', () => {
  const dir = join(import.meta.dirname, 'fixtures', 'samples');
  it.each(readdirSync(dir).filter((f) => f.endsWith('.yaml')))('%s validates with no error', (file) => {
    const result = parseHostConfig(readFileSync(join(dir, file), 'utf8'), { requireImage: true });
    expect(result.findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(result.config?.image?.url).toMatch(/^file:\/\/\/path\/to\//u);
  });
});
