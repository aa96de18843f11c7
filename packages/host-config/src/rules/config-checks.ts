/** Configuration-level checks (reference §3.2 item 5 and §1.3): datastore, os, scripts, image. */
import { longestPrefixMount, normalizeMountPath } from '../mount-paths.ts';
import type { Path } from '../path.ts';
import { isNetplanKey, NETPLAN_DEVICE_SECTIONS } from '../schema/os.ts';
import type { HostConfiguration } from '../schema/root.ts';
import type { RuleContext } from './context.ts';

export function checkImage(ctx: RuleContext): void {
  const image = ctx.config.image;
  if (image === undefined) return;
  if (image.sha384 === 'ignored') {
    ctx.report(
      'HC_IMAGE_HASH_IGNORED',
      ['image', 'sha384'],
      '`sha384: ignored` skips the check of the image metadata: pin it to the SHA-384 of the COSI `metadata.json` so a changed image is detected.',
    );
  }
  const scheme = new URL(image.url).protocol.replace(/:$/, '');
  if (!['file', 'http', 'https', 'oci'].includes(scheme)) {
    ctx.report(
      'HC_IMAGE_URL_SCHEME',
      ['image', 'url'],
      `Unsupported URL scheme: ${scheme}. Use \`https://\`, \`http://\`, \`file://\` or \`oci://\`.`,
    );
  }
}

export function checkDatastore(ctx: RuleContext): void {
  const { trident, storage } = ctx.config;
  if (trident.disable) return;
  const path = trident.datastorePath;
  const at: Path = ['trident', 'datastorePath'];
  const ext = pathExtension(path);
  if (ext !== 'sqlite') {
    ctx.report(
      'HC_DATASTORE_EXTENSION',
      at,
      `Datastore file has extension '${ext ?? '<none>'}', but must have 'sqlite': e.g. \`/var/lib/trident/datastore.sqlite\`.`,
    );
    return;
  }
  const i = longestPrefixMount(
    path,
    storage.filesystems.map((fs) => fs.mountPoint?.path),
  );
  const fs = storage.filesystems[i];
  if (fs?.deviceId === undefined) {
    ctx.report(
      'HC_DATASTORE_NOT_IN_VOLUME',
      at,
      `Datastore path '${path}' must be in a known volume: add a filesystem with a block device that covers it (e.g. a new ext4 at \`/var/lib/trident\`), or set \`trident.disable: true\`.`,
    );
    return;
  }
  if (storage.abUpdate?.volumePairs.some((p) => p.id === fs.deviceId)) {
    ctx.report(
      'HC_DATASTORE_ON_AB',
      at,
      `Datastore path '${path}' cannot be in A/B update volume '${fs.deviceId}': it must survive updates, so give \`/var/lib/trident\` its own partition.`,
    );
  }
}

/**
 * Rust's `Path::extension`: the part of the last component after its last `.`, none for a
 * component without a dot, a dot-file (`.sqlite`), `..` or a path ending in `/..`.
 */
export function pathExtension(path: string): string | undefined {
  const name = path
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .pop();
  if (name === undefined || name === '..') return undefined;
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? undefined : name.slice(dot + 1);
}

const TRUTHY = (v: unknown): boolean => v === true || v === 'true';

export function checkRootVerityExtras(ctx: RuleContext, rootVerity: number | undefined): void {
  if (rootVerity === undefined) return;
  if (TRUTHY(ctx.config.internalParams.selfUpgradeTrident)) {
    ctx.report(
      'HC_SELF_UPGRADE_WITH_ROOT_VERITY',
      ['internalParams', 'selfUpgradeTrident'],
      "Cannot request self-upgrade of Trident when a read-only verity filesystem is mounted at '/': remove `selfUpgradeTrident`.",
    );
  }
  const mode = ctx.config.os.selinux.mode;
  if (mode === 'permissive' || mode === 'enforcing') {
    ctx.report(
      'HC_SELINUX_WITH_ROOT_VERITY',
      ['os', 'selinux', 'mode'],
      `SELinux mode '${mode}' with root verity works only with a UKI image; use \`mode: disabled\` otherwise.`,
    );
  }
}

const EXT_DIRS = {
  sysexts: [
    '/etc/extensions',
    '/run/extensions',
    '/var/lib/extensions',
    '/usr/lib/extensions',
    '/usr/local/lib/extensions',
  ],
  confexts: [
    '/etc/confexts',
    '/run/confexts',
    '/var/lib/confexts',
    '/usr/lib/confexts',
    '/usr/local/lib/confexts',
  ],
} as const;

export function checkExtensions(ctx: RuleContext): void {
  const { os, storage } = ctx.config;
  for (const kind of ['sysexts', 'confexts'] as const) {
    const hashes = new Map<string, number>();
    const paths = new Map<string, number>();
    os[kind].forEach((ext, i) => {
      const at: Path = ['os', kind, i];
      const dir =
        ext.path === undefined
          ? EXT_DIRS[kind][2]
          : normalizeMountPath(ext.path).replace(/\/[^/]*$/, '') || '/';
      if (ext.path !== undefined) {
        if (
          !ext.path.startsWith('/') ||
          !ext.path.endsWith('.raw') ||
          !(EXT_DIRS[kind] as readonly string[]).includes(dir)
        ) {
          ctx.report(
            'HC_EXTENSION_PATH_INVALID',
            [...at, 'path'],
            `Extension image path '${ext.path}' is invalid: it must be absolute, end in \`.raw\` and be in one of ${EXT_DIRS[kind].join(', ')}.`,
          );
        }
        const p = normalizeMountPath(ext.path);
        if (paths.has(p))
          ctx.report(
            'HC_DUPLICATE_EXTENSION',
            [...at, 'path'],
            `Extension image path '${ext.path}' is used twice (also by \`os.${kind}[${paths.get(p)}]\`).`,
          );
        else paths.set(p, i);
      }
      if (hashes.has(ext.sha384))
        ctx.report(
          'HC_DUPLICATE_EXTENSION',
          [...at, 'sha384'],
          `The same extension image (sha384 ${ext.sha384.slice(0, 12)}...) is listed twice (also \`os.${kind}[${hashes.get(ext.sha384)}]\`).`,
        );
      else hashes.set(ext.sha384, i);
      if (storage.abUpdate === undefined) return;
      const fsIndex = longestPrefixMount(
        dir,
        storage.filesystems.map((fs) => fs.mountPoint?.path),
      );
      const deviceId = storage.filesystems[fsIndex]?.deviceId;
      if (deviceId === undefined || !reachesAbVolume(ctx.config, deviceId)) {
        ctx.report(
          'HC_EXTENSION_NOT_ON_AB',
          ext.path === undefined ? at : [...at, 'path'],
          `Extension image path '${dir}' must be on a known A/B volume, so the extension is replaced with the OS on update.`,
        );
      }
    });
  }
}

/**
 * Trident's `has_ab_capabilities`: whether the device is an A/B volume pair or is built on one,
 * following every dependency (verity data and hash, encryption, RAID members).
 */
function reachesAbVolume(config: HostConfiguration, start: string): boolean {
  const { storage } = config;
  const pairs = new Set(storage.abUpdate?.volumePairs.map((p) => p.id) ?? []);
  const below = (id: string): string[] => {
    const verity = storage.verity.find((v) => v.id === id);
    if (verity) return [verity.dataDeviceId, verity.hashDeviceId];
    const encrypted = storage.encryption?.volumes.find((v) => v.id === id);
    if (encrypted) return [encrypted.deviceId];
    const raid = storage.raid.software.find((r) => r.id === id);
    if (raid) return [...raid.devices];
    return [];
  };
  const seen = new Set<string>();
  const todo = [start];
  while (todo.length > 0) {
    const id = todo.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    if (pairs.has(id)) return true;
    todo.push(...below(id));
  }
  return false;
}

export function checkOs(ctx: RuleContext): void {
  const { os, managementOs } = ctx.config;
  for (const [section, users] of [
    ['os', os.users],
    ['managementOs', managementOs.users],
  ] as const) {
    const seen = new Map<string, number>();
    users.forEach((user, i) => {
      const first = seen.get(user.name);
      if (first !== undefined)
        ctx.report(
          'HC_DUPLICATE_USERNAME',
          [section, 'users', i, 'name'],
          `User '${user.name}' is defined more than once (also \`${section}.users[${first}]\`): merge the entries.`,
        );
      else seen.set(user.name, i);
    });
  }
  os.additionalFiles.forEach((file, i) => {
    const at: Path = ['os', 'additionalFiles', i];
    if ((file.content === undefined) === (file.source === undefined)) {
      ctx.report(
        'HC_ADDITIONAL_FILE_SOURCE',
        at,
        `Additional file '${file.destination}' must set exactly one of \`content\` (inline text) and \`source\` (a file path), not ${file.content === undefined ? 'neither' : 'both'}.`,
      );
    }
    if (
      file.permissions !== undefined &&
      // Trident: starts with 0, parses as octal, at most 0777 (`0`, `0644` and `00644` all pass).
      !(/^0[0-7]*$/.test(file.permissions) && Number.parseInt(file.permissions, 8) <= 0o777)
    ) {
      ctx.report(
        'HC_INVALID_PERMISSIONS',
        [...at, 'permissions'],
        `Invalid permissions '${file.permissions}': write an octal mode starting with 0, at most 0777, e.g. \`'0644'\`.`,
      );
    }
  });
  for (const [section, netplan] of [
    ['os', os.netplan],
    ['managementOs', managementOs.netplan],
  ] as const) {
    if (netplan !== undefined) checkNetplan(ctx, section, netplan);
  }
  if (
    os.selinux.mode !== undefined &&
    os.selinux.mode !== 'disabled' &&
    os.sysexts.length + os.confexts.length > 0
  ) {
    ctx.report(
      'HC_SELINUX_WITH_EXTENSIONS',
      ['os', 'selinux', 'mode'],
      `SELinux mode '${os.selinux.mode}' with sysexts or confexts is not supported: set \`mode: disabled\` or drop the extensions.`,
    );
  }
}

/**
 * Netplan interface ids as netplan itself accepts them: printable ASCII without spaces
 * (`[[:alnum:][:punct:]]+`), and none of the glob characters `*?[]` (netplan's parse.c).
 */
const INTERFACE_ID = /^[\x21-\x7e]+$/u;
const GLOB = /[*?[\]]/u;

/** Trident's `validate_netplan`: version 2, a renderer other than NetworkManager, valid ids. */
function checkNetplan(
  ctx: RuleContext,
  section: 'os' | 'managementOs',
  netplan: NonNullable<HostConfiguration['os']['netplan']>,
): void {
  const at: Path = [section, 'netplan'];
  if (netplan.version !== 2)
    ctx.report(
      'HC_NETPLAN_VERSION',
      [...at, 'version'],
      `Netplan version '${netplan.version}' is invalid, it must always be 2: set \`version: 2\`.`,
    );
  if (netplan.renderer === 'NetworkManager') {
    ctx.report(
      'HC_NETPLAN_RENDERER',
      [...at, 'renderer'],
      "Netplan renderer 'NetworkManager' is not supported: Trident configures systemd-networkd; use `renderer: networkd` or leave `renderer` out.",
    );
  }
  for (const kind of NETPLAN_DEVICE_SECTIONS) {
    for (const id of Object.keys(netplan[kind] ?? {})) {
      if (INTERFACE_ID.test(id) && !GLOB.test(id)) continue;
      ctx.reportKey(
        'HC_NETPLAN_INTERFACE_NAME',
        [...at, kind, id],
        `Interface name '${id}' is invalid: netplan ids are printable ASCII without spaces and without the glob characters * ? [ ]. To match interfaces by pattern, give the device a plain id and put the pattern in \`match: {name: ...}\`.`,
      );
    }
  }
  for (const key of Object.keys(netplan)) {
    if (isNetplanKey(key)) continue;
    ctx.reportKey(
      'HC_NETPLAN_FIELD_IGNORED',
      [...at, key],
      `Trident does not read netplan \`${key}\` (its netplan model has version, renderer, ${NETPLAN_DEVICE_SECTIONS.join(', ')}): the section is dropped from the configuration written to the target.`,
    );
  }
}

export function checkScripts(ctx: RuleContext): void {
  const { scripts, health } = ctx.config;
  for (const kind of ['preServicing', 'postProvision', 'postConfigure'] as const) {
    scripts[kind].forEach((script, i) => {
      checkScript(ctx, ['scripts', kind, i], script, kind !== 'preServicing');
    });
  }
  health.checks.forEach((check, i) => {
    if ('systemdServices' in check) {
      if (check.runOn.length === 0)
        ctx.report(
          'HC_SCRIPT_NEVER_RUNS',
          ['health', 'checks', i],
          `Health check '${check.name}' has an empty \`runOn\`, so it never runs: add e.g. \`runOn: [all]\`.`,
        );
    } else checkScript(ctx, ['health', 'checks', i], check, false);
  });
}

interface ScriptLike {
  name: string;
  content?: string | undefined;
  path?: string | undefined;
  runOn: readonly string[];
}

function checkScript(ctx: RuleContext, at: Path, script: ScriptLike, absolute: boolean): void {
  if ((script.content === undefined) === (script.path === undefined)) {
    ctx.report(
      'HC_SCRIPT_SOURCE',
      at,
      `Script '${script.name}' must set exactly one of \`content\` (inline) and \`path\` (a file), not ${script.content === undefined ? 'neither' : 'both'}.`,
    );
  }
  if (absolute && script.path !== undefined && !script.path.startsWith('/')) {
    ctx.report(
      'HC_SCRIPT_PATH_NOT_ABSOLUTE',
      [...at, 'path'],
      `Script '${script.name}' path '${script.path}' must be absolute.`,
    );
  }
  if (script.runOn.length === 0)
    ctx.report(
      'HC_SCRIPT_NEVER_RUNS',
      at,
      `Script '${script.name}' has an empty \`runOn\`, so it never runs: add e.g. \`runOn: [all]\`.`,
    );
}
