/** Post-graph storage checks (reference §3.2): encryption, ESP, `/`, `/var/tmp`, verity. */
import { isReadOnly, longestPrefixMount, normalizeMountPath } from '../mount-paths.ts';
import type { Path } from '../path.ts';
import type { FileSystem } from '../schema/root.ts';
import type { RuleContext } from './context.ts';
import type { StorageGraph } from './storage-model.ts';

const FILESYSTEMS: Path = ['storage', 'filesystems'];

export function checkEncryption(ctx: RuleContext): void {
  const enc = ctx.config.storage.encryption;
  if (enc === undefined) return;
  if (enc.recoveryKeyUrl !== undefined) {
    const scheme = URL.canParse(enc.recoveryKeyUrl)
      ? new URL(enc.recoveryKeyUrl).protocol.replace(/:$/, '')
      : '';
    if (scheme !== 'file') {
      ctx.report(
        'HC_RECOVERY_KEY_SCHEME',
        ['storage', 'encryption', 'recoveryKeyUrl'],
        `Encryption recovery key URL '${enc.recoveryKeyUrl}' has invalid scheme '${scheme}': the key must be a local file, e.g. \`file:///etc/recovery.key\`.`,
      );
    }
  }
  const bad = enc.pcrs.filter((p) => p !== 4 && p !== 7 && p !== 11);
  if (bad.length > 0) {
    ctx.report(
      'HC_UNSUPPORTED_PCR',
      ['storage', 'encryption', 'pcrs', enc.pcrs.indexOf(bad[0] ?? -1)],
      `List of PCRs in encryption config contains unsupported PCRs '${bad.join(', ')}'. Only PCRs 4 (boot-loader-code), 7 (secure-boot-policy) and 11 (kernel-boot) are supported.`,
    );
  }
}

export function mountIndex(filesystems: readonly FileSystem[], path: string): number {
  const want = normalizeMountPath(path);
  return filesystems.findIndex(
    (fs) => fs.mountPoint !== undefined && normalizeMountPath(fs.mountPoint.path) === want,
  );
}

/** `/`, the ESP or `/boot` must exist and come from the image or be adopted. */
export function requireImageMount(ctx: RuleContext, path: string, why: string): void {
  const filesystems = ctx.config.storage.filesystems;
  const i = mountIndex(filesystems, path);
  if (i < 0) {
    ctx.report(
      'HC_EXPECTED_MOUNT_NOT_FOUND',
      FILESYSTEMS,
      `Failed to find expected mount point '${path}' (${why}): add a filesystem with \`mountPoint: ${path}\` sourced from the image.`,
    );
    return;
  }
  if (filesystems[i]?.source === 'new') {
    ctx.report(
      'HC_MOUNT_NOT_FROM_IMAGE',
      [...FILESYSTEMS, i, 'source'],
      `Mount point '${path}' must be backed by an image: remove \`source: new\` so it comes from the OS image, or use \`source: adopted\`.`,
    );
  }
}

export function storageIsDefault(ctx: RuleContext): boolean {
  const s = ctx.config.storage;
  return (
    s.disks.length === 0 &&
    s.encryption === undefined &&
    s.abUpdate === undefined &&
    s.filesystems.length === 0 &&
    s.verity.length === 0 &&
    s.swap.length === 0 &&
    s.raid.software.length === 0 &&
    s.raid.syncTimeout === undefined
  );
}

export function checkEspAndVarTmp(ctx: RuleContext, graph: StorageGraph): void {
  const filesystems = ctx.config.storage.filesystems;
  const esp = graph.isEsp.indexOf(true);
  if (esp < 0) {
    ctx.report(
      'HC_ESP_NOT_FOUND',
      FILESYSTEMS,
      'ESP mount point not found in storage configuration; no filesystem was marked as the ESP. Add a filesystem on an `esp` partition mounted at `/boot/efi`, or set `overrideEspMount: override` on the ESP filesystem.',
    );
  } else {
    const fs = filesystems[esp];
    if (fs?.mountPoint !== undefined && fs.source === 'new') {
      ctx.report(
        'HC_MOUNT_NOT_FROM_IMAGE',
        [...FILESYSTEMS, esp, 'source'],
        `Mount point '${fs.mountPoint.path}' must be backed by an image: the ESP comes from the OS image (or is adopted); remove \`source: new\`.`,
      );
    }
  }
  const varTmp = longestPrefixMount(
    '/var/tmp',
    filesystems.map((fs) => fs.mountPoint?.path),
  );
  if (varTmp < 0) {
    ctx.report(
      'HC_EXPECTED_MOUNT_NOT_FOUND',
      FILESYSTEMS,
      "Failed to find expected mount point '/var/tmp': no filesystem covers it. Add the root filesystem (`mountPoint: /`) or a filesystem at `/var` or `/var/tmp`.",
    );
    return;
  }
  const options = filesystems[varTmp]?.mountPoint?.options ?? '';
  if (isReadOnly(options)) {
    ctx.report(
      'HC_VAR_TMP_READ_ONLY',
      [...FILESYSTEMS, varTmp, 'mountPoint'],
      `Directory '/var/tmp' must be on a read-write volume, but is on a read-only volume mounted at '${filesystems[varTmp]?.mountPoint?.path ?? ''}'. Add a writable filesystem at \`/var\` or \`/var/tmp\` (e.g. a new ext4 or tmpfs).`,
    );
  }
}

/** Reference §3.2 item 4. Returns the index of the filesystem with root verity, if any. */
export function checkVerity(ctx: RuleContext): number | undefined {
  const { verity, filesystems } = ctx.config.storage;
  if (verity.length === 0) return undefined;
  const unsupported = (path: Path, detail: string) =>
    ctx.report(
      'HC_UNSUPPORTED_VERITY_DEVICES',
      path,
      `Only one of root or usr-verity devices is supported, but other verity devices were requested: ${detail}.`,
    );
  if (verity.length > 1) {
    unsupported(
      ['storage', 'verity', 1],
      `${verity.length} verity devices are defined; keep one, for \`/\` or \`/usr\``,
    );
    return undefined;
  }
  const device = verity[0];
  if (device === undefined) return undefined;
  const users = filesystems.flatMap((fs, i) => (fs.deviceId === device.id ? [i] : []));
  if (users.length !== 1) {
    unsupported(
      ['storage', 'verity', 0],
      `verity device '${device.id}' is used by ${users.length} filesystems; exactly one filesystem must have \`deviceId: ${device.id}\``,
    );
    return undefined;
  }
  const index = users[0] ?? 0;
  const fs = filesystems[index];
  if (fs?.mountPoint === undefined) {
    ctx.report(
      'HC_VERITY_MOUNT_REQUIRED',
      [...FILESYSTEMS, index],
      `Verity device '${device.id}' must define a mount point: mount its filesystem at \`/\` or \`/usr\`.`,
    );
    return undefined;
  }
  const mp = normalizeMountPath(fs.mountPoint.path);
  if (mp !== '/' && mp !== '/usr') {
    unsupported(
      [...FILESYSTEMS, index, 'mountPoint'],
      `the verity filesystem is mounted at '${fs.mountPoint.path}', but only \`/\` and \`/usr\` may be verity-protected`,
    );
    return undefined;
  }
  if (!isReadOnly(fs.mountPoint.options)) {
    ctx.report(
      'HC_VERITY_READ_WRITE',
      [...FILESYSTEMS, index, 'mountPoint'],
      `Verity device '${device.name}' is mounted read-write at '${fs.mountPoint.path}', but must be mounted read-only: add \`ro\` to the options, e.g. \`options: defaults,ro\`.`,
    );
  }
  const expectedName = mp === '/' ? 'root' : 'usr';
  if (device.name !== expectedName) {
    ctx.report(
      'HC_VERITY_NAME',
      ['storage', 'verity', 0, 'name'],
      `Verity device name '${device.name}' is invalid, must be '${expectedName}' for a verity filesystem at '${mp}'.`,
    );
  }
  if (mp !== '/') return undefined;
  requireImageMount(ctx, '/boot', 'root verity needs a separate /boot');
  checkOverlay(ctx, device.dataDeviceId);
  return index;
}

function checkOverlay(ctx: RuleContext, verityDataId: string): void {
  const { filesystems, abUpdate } = ctx.config.storage;
  const overlay = '/var/lib/trident-overlay';
  const i = longestPrefixMount(
    overlay,
    filesystems.map((fs) => fs.mountPoint?.path),
  );
  const fs = filesystems[i];
  if (i < 0 || fs === undefined) {
    ctx.report(
      'HC_EXPECTED_MOUNT_NOT_FOUND',
      FILESYSTEMS,
      `Failed to find expected mount point '${overlay}' (root verity keeps writable state there): add a filesystem mounted at \`${overlay}\`.`,
    );
    return;
  }
  const at: Path = [...FILESYSTEMS, i];
  const mp = fs.mountPoint?.path ?? '';
  if (fs.deviceId === undefined) {
    ctx.report(
      'HC_OVERLAY_NO_DEVICE',
      at,
      `Mount point '${mp}' must be backed by a block device: '${overlay}' cannot live on ${fs.type ?? 'a'} filesystem without \`deviceId\`.`,
    );
    return;
  }
  if (abUpdate !== undefined && !abUpdate.volumePairs.some((p) => p.id === fs.deviceId)) {
    ctx.report(
      'HC_OVERLAY_NOT_AB',
      [...at, 'deviceId'],
      `Mount point '${overlay}' must be backed by A/B update volume pair: put its filesystem on one of ${abUpdate.volumePairs.map((p) => `'${p.id}'`).join(', ')} or on a new pair.`,
    );
  }
  if (fs.mountPoint !== undefined && isReadOnly(fs.mountPoint.options)) {
    ctx.report(
      'HC_OVERLAY_READ_ONLY',
      [...at, 'mountPoint'],
      `Overlay '${overlay}' cannot be on volume '${mp}' as it is read-only: give it a writable filesystem of its own.`,
    );
  } else if (fs.deviceId === verityDataId || ctx.config.storage.verity.some((v) => v.id === fs.deviceId)) {
    ctx.report(
      'HC_OVERLAY_ON_VERITY',
      [...at, 'deviceId'],
      `Overlay '${overlay}' cannot be on volume '${mp}' as it is verity-protected: give it a writable filesystem of its own.`,
    );
  }
}
