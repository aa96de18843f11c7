/**
 * The verity fixture's initrd mounts the writable /etc overlay that `trident install` asks for on
 * the kernel command line (`rd.overlayfs=<dir>,<upper>,<work>,<device>`), as upstream Trident's
 * Azure Linux images do with their dracut overlayfs module. Without it a read-only verity root
 * boots with the image's own /etc (its fstab names the fixture's partitions, not the installed
 * ones), because /etc/fstab is read before the overlay line in it could be mounted.
 *
 * The module is ours: the partition is mounted under /run (which switch-root carries into the OS,
 * where fstab mounts it again at /var/lib/trident-overlay) and `<dir>` of the new root gets an
 * overlay whose upper and work directories are `<upper>` and `<work>` on that partition.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const ETC_OVERLAY_MODULE = 'trident-etc-overlay';

const MODULE_SETUP = `#!/bin/bash
# dracut module of the trident-ts verity fixture: see mount-etc-overlay.sh.
check() { return 0; }
depends() { echo base; }
installkernel() { hostonly='' instmods overlay; }
install() {
    inst_hook pre-pivot 50 "$moddir/mount-etc-overlay.sh"
}
`;

const MOUNT_HOOK = `#!/bin/sh
# rd.overlayfs=<dir in the root>,<upper dir on the device>,<work dir on the device>,<device>
# Overlays <dir> of the new root with a writable layer kept on <device> (the partition a verity
# root's Host Configuration mounts at /var/lib/trident-overlay).
type getarg >/dev/null 2>&1 || . /lib/dracut-lib.sh
spec=$(getarg rd.overlayfs=) || return 0
[ -n "$spec" ] || return 0
# Split by hand: hooks are sourced, so the positional parameters are not ours to set.
lower=\${spec%%,*} rest=\${spec#*,}
upper=\${rest%%,*} rest=\${rest#*,}
work=\${rest%%,*} device=\${rest#*,}
case "$device" in
    *=*) device=$(label_uuid_to_dev "$device") ;;
esac
tries=0
while [ ! -b "$device" ] && [ "$tries" -lt 600 ]; do
    sleep 1
    tries=$((tries + 1))
done
store=/run/trident-etc-overlay
mkdir -p "$store"
if ! mount "$device" "$store"; then
    warn "rd.overlayfs: cannot mount $device"
    return 1
fi
mkdir -p "$store/$upper" "$store/$work"
modprobe overlay 2>/dev/null
if ! mount -t overlay overlay \\
    -o "lowerdir=$NEWROOT/$lower,upperdir=$store/$upper,workdir=$store/$work" "$NEWROOT/$lower"; then
    warn "rd.overlayfs: cannot overlay /$lower"
    return 1
fi
info "rd.overlayfs: /$lower overlaid from $device"
`;

/** Adds the module to the OS tree at `root` and rebuilds the initrd of `kernelVersion` with it. */
export async function addEtcOverlayModule(
  root: string,
  kernelVersion: string,
  run: (command: string, args: string[]) => Promise<string>,
): Promise<void> {
  const dir = join(root, 'usr/lib/dracut/modules.d', `90${ETC_OVERLAY_MODULE}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'module-setup.sh'), MODULE_SETUP, { mode: 0o755 });
  await writeFile(join(dir, 'mount-etc-overlay.sh'), MOUNT_HOOK, { mode: 0o755 });
  await run('chroot', [
    root,
    'dracut',
    ...['--force', '--add', ETC_OVERLAY_MODULE, '--kver', kernelVersion],
    `/boot/initrd.img-${kernelVersion}`,
  ]);
}
