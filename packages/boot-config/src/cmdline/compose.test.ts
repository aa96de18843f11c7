import { describe, expect, it } from 'vitest';
import { composeCmdline } from './compose.ts';
import { argValue, formatCmdline, parseCmdline, replaceArgs } from './kernel-cmdline.ts';

/** The fixture OS's own entry, as tests/support writes it. */
const FIXTURE = 'root=PARTUUID=0b5e5c2e-2c8f-4b43-9a8b-3d5c3f0e2a11 rw console=ttyS0,115200 quiet loglevel=4';
const NEW_ROOT = '5f1b7a52-9d5e-4c47-8a53-2f1e0c6b9d70';
const HASH = 'a'.repeat(64);

const compose = (line: string, target: Parameters<typeof composeCmdline>[1]) =>
  formatCmdline(composeCmdline(parseCmdline(line), target));

describe('kernel command line', () => {
  it('splits as the kernel does: whitespace outside double quotes', () => {
    expect(parseCmdline('  a=1  b="x y"\tc ')).toEqual(['a=1', 'b="x y"', 'c']);
    expect(argValue(parseCmdline('a=1 b="x y" a=2'), 'a')).toBe('2');
    expect(argValue(parseCmdline('b="x y"'), 'b')).toBe('x y');
    expect(() => parseCmdline('a="open')).toThrowError(
      expect.objectContaining({ code: 'BOOTCFG_CMDLINE_INVALID' }),
    );
    expect(() => parseCmdline('a=\u0007')).toThrowError(/control character U\+0007/u);
  });

  it('replaces arguments by name in the place of the first one', () => {
    expect(replaceArgs(['root=a', 'quiet', 'roothash=b'], ['root', 'roothash'], ['root=c'])).toEqual([
      'root=c',
      'quiet',
    ]);
    expect(replaceArgs(['quiet'], ['root'], ['root=c'])).toEqual(['quiet', 'root=c']);
  });
});

describe('composeCmdline', () => {
  it('points root= at the installed partition and keeps the rest in place', () => {
    expect(compose(FIXTURE, { root: { kind: 'partuuid', partUuid: NEW_ROOT.toUpperCase() } })).toBe(
      `root=PARTUUID=${NEW_ROOT} rw console=ttyS0,115200 quiet loglevel=4`,
    );
    expect(compose(FIXTURE, { root: { kind: 'device', path: '/dev/md/root' } })).toMatch(
      /^root=\/dev\/md\/root rw /u,
    );
  });

  it('opens a verity root in the initrd as upstream does, read-only, keeping the image root hash', () => {
    const image = `root=/dev/mapper/root ro roothash=${HASH} rd.systemd.verity=1 systemd.verity_root_data=PARTUUID=old systemd.verity_root_hash=PARTUUID=oldh console=ttyS0`;
    expect(
      compose(image, {
        root: {
          kind: 'verity',
          dataDevice: '/dev/disk/by-partuuid/d',
          hashDevice: '/dev/disk/by-partuuid/h',
          corruption: 'panic',
        },
      }),
    ).toBe(
      `root=/dev/mapper/root roothash=${HASH} rd.systemd.verity=1 systemd.verity_root_data=/dev/disk/by-partuuid/d systemd.verity_root_hash=/dev/disk/by-partuuid/h systemd.verity_root_options=panic-on-corruption console=ttyS0 ro`,
    );
    expect(() =>
      compose(FIXTURE, { root: { kind: 'verity', dataDevice: 'd', hashDevice: 'h' } }),
    ).toThrowError(/needs its root hash/u);
    expect(() =>
      compose(FIXTURE, { root: { kind: 'verity', dataDevice: 'd', hashDevice: 'h', roothash: 'xyz' } }),
    ).toThrowError(/not a hex hash/u);
  });

  it('adds /usr verity, SELinux, the /etc overlay and the extra command line', () => {
    const line = compose(`${FIXTURE} selinux=0`, {
      root: { kind: 'partuuid', partUuid: NEW_ROOT },
      usrVerity: { dataDevice: 'PARTUUID=u', hashDevice: 'PARTUUID=uh', usrhash: HASH },
      selinux: 'permissive',
      overlayDevice: '/dev/disk/by-partuuid/ov',
      extraCommandLine: ['trident.test=1 console=ttyS0,115200', 'panic=30'],
    });
    expect(parseCmdline(line)).toEqual([
      `root=PARTUUID=${NEW_ROOT}`,
      'mount.usr=/dev/mapper/usr',
      `usrhash=${HASH}`,
      'rd.systemd.verity=1',
      'systemd.verity_usr_data=PARTUUID=u',
      'systemd.verity_usr_hash=PARTUUID=uh',
      'rw',
      'console=ttyS0,115200',
      'quiet',
      'loglevel=4',
      'security=selinux',
      'selinux=1',
      'enforcing=0',
      'rd.overlayfs=etc,etc/upper,etc/work,/dev/disk/by-partuuid/ov',
      'trident.test=1',
      'panic=30',
    ]);
  });

  it("replaces an image's /usr verity devices, keeping its usrhash, mount.usrfstype and mount.usrflags", () => {
    // An entry like the usr-verity fixture's: the filesystem type and `ro` of /usr are the image's to say.
    const image = `${FIXTURE} mount.usr=/dev/mapper/usr mount.usrfstype=ext4 mount.usrflags=ro usrhash=${HASH} rd.systemd.verity=1 systemd.verity_usr_data=PARTUUID=old systemd.verity_usr_hash=PARTUUID=oldh`;
    const line = parseCmdline(
      compose(image, {
        root: { kind: 'partuuid', partUuid: NEW_ROOT },
        usrVerity: { dataDevice: 'PARTUUID=new', hashDevice: 'PARTUUID=newh' },
      }),
    );
    expect(line).toContain('mount.usrfstype=ext4');
    expect(line).toContain('mount.usrflags=ro');
    expect(line).toContain(`usrhash=${HASH}`); // kept from the image: the target gave none
    expect(line).toContain('systemd.verity_usr_data=PARTUUID=new');
    expect(line).toContain('systemd.verity_usr_hash=PARTUUID=newh');
    expect(line.filter((a) => a.startsWith('systemd.verity_usr_data='))).toHaveLength(1);
    expect(line.filter((a) => a === 'rd.systemd.verity=1')).toHaveLength(1);
    expect(line).toContain(`root=PARTUUID=${NEW_ROOT}`);
  });

  it('gives the same line when composed twice', () => {
    const target = {
      root: { kind: 'partuuid', partUuid: NEW_ROOT },
      selinux: 'enforcing',
      extraCommandLine: ['a=1'],
    } as const;
    const once = compose(FIXTURE, target);
    expect(compose(once, target)).toBe(once);
  });

  it('refuses values that would break the line apart', () => {
    expect(() => compose(FIXTURE, { root: { kind: 'device', path: '/dev/a b' } })).toThrowError(
      /not a device name/u,
    );
    expect(() => compose(FIXTURE, { root: { kind: 'partuuid', partUuid: 'nope' } })).toThrowError(
      /not a UUID/u,
    );
    expect(() =>
      compose(FIXTURE, { root: { kind: 'partuuid', partUuid: NEW_ROOT }, extraCommandLine: ['x="'] }),
    ).toThrowError(/extraCommandLine: unbalanced/u);
  });
});
