/** Storage graph steps E-K (reference §3.1): references, sharing, kinds, sizes, types, RAID level. */
import { normalizeMountPath } from '../mount-paths.ts';
import { ACL_USR_TYPE, isNamedPartitionType, TYPICAL_MOUNTS } from '../partition-types.ts';
import type { RuleContext } from './context.ts';
import {
  type DeviceKind,
  type Leaf,
  leafPartitions,
  type Referrer,
  type ReferrerKind,
  type StorageGraph,
} from './storage-model.ts';

const CARDINALITY: Record<ReferrerKind, { min: number; max: number; text: string }> = {
  'raid-array': { min: 2, max: Number.POSITIVE_INFINITY, text: 'at least 2' },
  'ab-volume': { min: 2, max: 2, text: 'exactly 2' },
  'encrypted-volume': { min: 1, max: 1, text: 'exactly 1' },
  'verity-device': { min: 2, max: 2, text: 'exactly 2' },
  'swap-device': { min: 1, max: 1, text: 'exactly 1' },
  'filesystem-new': { min: 0, max: 1, text: 'at most 1' },
  'filesystem-image': { min: 1, max: 1, text: 'exactly 1' },
  'filesystem-esp': { min: 1, max: 1, text: 'exactly 1' },
  'filesystem-adopted': { min: 1, max: 1, text: 'exactly 1' },
};

const ALLOWED_KINDS: Record<ReferrerKind, readonly DeviceKind[]> = {
  'raid-array': ['partition'],
  'ab-volume': ['partition', 'raid-array', 'encrypted-volume'],
  'encrypted-volume': ['partition', 'raid-array'],
  'verity-device': ['partition', 'raid-array', 'ab-volume'],
  'swap-device': ['partition', 'encrypted-volume'],
  'filesystem-new': ['partition', 'raid-array', 'ab-volume', 'encrypted-volume'],
  'filesystem-image': ['partition', 'raid-array', 'ab-volume', 'encrypted-volume', 'verity-device'],
  'filesystem-esp': ['partition', 'adopted-partition', 'raid-array'],
  'filesystem-adopted': ['adopted-partition'],
};

const quoteList = (items: readonly string[]): string => items.map((k) => `'${k}'`).join(' or ');

/** Step E; returns the referrers whose references are sound, for the later steps. */
export function checkReferences(ctx: RuleContext, graph: StorageGraph): Referrer[] {
  const sound: Referrer[] = [];
  for (const ref of graph.referrers) {
    let ok = true;
    const seen = new Set<string>();
    for (const target of ref.targets) {
      if (seen.has(target.id)) {
        ctx.report(
          'HC_DUPLICATE_REFERENCE',
          target.path,
          `Referrer ${ref.name} of kind '${ref.kind}' references target '${target.id}' more than once: list each device once.`,
        );
        ok = false;
      }
      seen.add(target.id);
    }
    const card = CARDINALITY[ref.kind];
    const count = ref.targets.length;
    // Filesystems without deviceId are reported by step D.
    if ((count < card.min || count > card.max) && !ref.kind.startsWith('filesystem')) {
      ctx.report(
        'HC_REFERENCE_COUNT',
        ref.targets.length === 0 ? ref.path : [...ref.path, 'devices'],
        `Referrer ${ref.name} of kind '${ref.kind}' has ${count} target${count === 1 ? '' : 's'}, but must have ${card.text} target(s).`,
      );
      ok = false;
    }
    if (count < card.min || count > card.max) ok = false;
    for (const target of ref.targets) {
      const device = graph.byId.get(target.id);
      if (device === undefined) {
        const known = graph.devices
          .filter((d) => ALLOWED_KINDS[ref.kind].includes(d.kind))
          .map((d) => `'${d.id}'`);
        ctx.report(
          'HC_UNKNOWN_REFERENCE',
          target.path,
          `Referrer ${ref.name} of kind '${ref.kind}' references non-existent block device '${target.id}'.${known.length > 0 ? ` Devices it could use: ${known.slice(0, 8).join(', ')}.` : ' Define the device first.'}`,
        );
        ok = false;
        continue;
      }
      if (!ALLOWED_KINDS[ref.kind].includes(device.kind)) {
        ctx.report(
          'HC_INVALID_REFERENCE_KIND',
          target.path,
          `Referrer ${ref.name} of kind '${ref.kind}' references block device '${target.id}' of invalid kind '${device.kind}', acceptable kinds are: ${quoteList(ALLOWED_KINDS[ref.kind])}.${device.kind === 'disk' ? ' Disks are never used directly: reference one of its partitions.' : ''}`,
        );
        ok = false;
      }
    }
    if (ok) sound.push(ref);
  }
  return sound;
}

/** Step F: a block device has at most one referrer. */
export function checkSharing(ctx: RuleContext, graph: StorageGraph): void {
  const owner = new Map<string, Referrer>();
  for (const ref of graph.referrers) {
    for (const target of new Set(ref.targets.map((t) => t.id))) {
      const device = graph.byId.get(target);
      if (device === undefined) continue;
      const first = owner.get(target);
      if (first === undefined) {
        owner.set(target, ref);
        continue;
      }
      const path = ref.targets.find((t) => t.id === target)?.path ?? ref.path;
      ctx.report(
        'HC_SHARED_DEVICE',
        path,
        `Referrers ${first.name} (of kind '${first.kind}') and ${ref.name} (of kind '${ref.kind}') cannot reference block device '${target}' of kind '${device.kind}' at the same time: a block device can only have one user. Give each its own device.`,
      );
    }
  }
}

const HOMOGENEOUS_KINDS: readonly ReferrerKind[] = [
  'raid-array',
  'ab-volume',
  'encrypted-volume',
  'verity-device',
  'swap-device',
];

/** Step G, H, I, J, K over the sound referrers. */
export function checkReferrerTargets(
  ctx: RuleContext,
  graph: StorageGraph,
  sound: readonly Referrer[],
): void {
  const config = ctx.config;
  const leavesOf = (ids: readonly string[]): Leaf[] => ids.flatMap((id) => leafPartitions(graph, config, id));
  for (const ref of sound) {
    const ids = ref.targets.map((t) => t.id);
    // G
    if (HOMOGENEOUS_KINDS.includes(ref.kind)) {
      const kinds = new Set(ids.map((id) => graph.byId.get(id)?.kind));
      if (kinds.size > 1) {
        ctx.report(
          'HC_MIXED_REFERENCE_KINDS',
          ref.path,
          `Referrer ${ref.name} of kind '${ref.kind}' references block devices of different kinds (${[...kinds].join(', ')}): use devices of one kind, e.g. only partitions.`,
        );
        continue;
      }
    }
    // H
    if (ref.kind === 'raid-array' || ref.kind === 'ab-volume') {
      const parts = leavesOf(ids).filter((l) => l.kind === 'partition');
      const grow = parts.find((l) => l.partition.size === 'grow');
      if (grow !== undefined) {
        ctx.report(
          'HC_PARTITION_SIZE_NOT_FIXED',
          ref.path,
          `Referrer ${ref.name} of kind '${ref.kind}' references partition '${grow.device.id}' of non-fixed size: give it a fixed size such as \`8G\` instead of \`grow\`.`,
        );
      } else if (new Set(parts.map((l) => l.partition.size)).size > 1) {
        ctx.report(
          'HC_PARTITION_SIZE_MISMATCH',
          ref.path,
          `Referrer ${ref.name} of kind '${ref.kind}' references partitions of different sizes (${parts.map((l) => `'${l.device.id}': ${String(l.partition.size)}`).join(', ')}): make them equal.`,
        );
      }
    }
    // I and J
    if (ref.kind === 'verity-device') checkVerityTypes(ctx, ref, leavesOf);
    else checkTypes(ctx, ref, leavesOf(ids));
    // K
    if (ref.kind === 'filesystem-esp') {
      for (const id of ids) {
        const device = graph.byId.get(id);
        if (device?.kind === 'raid-array' && device.raidLevel !== 'raid1') {
          ctx.report(
            'HC_INVALID_RAID_LEVEL',
            ref.targets[0]?.path ?? ref.path,
            `Referrer ${ref.name} of kind '${ref.kind}' references RAID array '${id}' of invalid level '${device.raidLevel ?? ''}', acceptable levels are: 'raid1'. The firmware reads the ESP as a plain partition, so it must be a mirror.`,
          );
        }
      }
    }
  }
}

const EXCEPT =
  (...types: string[]) =>
  (t: string) =>
    !types.includes(t);
const ALLOWED_TYPES: Partial<Record<ReferrerKind, { test: (t: string) => boolean; text: string }>> = {
  'encrypted-volume': {
    test: EXCEPT('esp', 'root', 'root-verity', 'usr-verity', 'home'),
    text: "any except 'esp', 'root', 'root-verity', 'usr-verity', 'home'",
  },
  'filesystem-new': { test: EXCEPT('esp'), text: "any except 'esp'" },
  'filesystem-adopted': { test: EXCEPT('esp'), text: "any except 'esp'" },
  'filesystem-esp': { test: (t) => t === 'esp', text: "'esp'" },
  'swap-device': { test: (t) => t === 'swap', text: "'swap'" },
};

function checkTypes(ctx: RuleContext, ref: Referrer, leaves: readonly Leaf[]): void {
  const parts = leaves.flatMap((l) => (l.kind === 'partition' ? [l] : []));
  const types = new Set(parts.map((l) => l.partition.type));
  if (types.size > 1) {
    ctx.report(
      'HC_MIXED_PARTITION_TYPES',
      ref.path,
      `Referrer ${ref.name} of kind '${ref.kind}' references partitions of different types (${[...types].join(', ')}): give them one type.`,
    );
    return;
  }
  const allowed = ALLOWED_TYPES[ref.kind];
  if (allowed !== undefined) {
    const bad = parts.find((l) => !allowed.test(l.partition.type));
    if (bad !== undefined) {
      ctx.report(
        'HC_INVALID_PARTITION_TYPE',
        [...bad.device.path, 'type'],
        `Referrer ${ref.name} of kind '${ref.kind}' references partition '${bad.device.id}' of invalid type '${bad.partition.type}', acceptable types are: ${allowed.text}.`,
      );
      return;
    }
  }
  // Non-ESP filesystems only get a warning for unusual mount paths (reference §2).
  const fs =
    ref.filesystemIndex === undefined ? undefined : ctx.config.storage.filesystems[ref.filesystemIndex];
  const type = [...types][0];
  if (
    fs?.mountPoint === undefined ||
    type === undefined ||
    ref.kind === 'filesystem-esp' ||
    !isNamedPartitionType(type)
  )
    return;
  const typical = TYPICAL_MOUNTS[type];
  if (typical === undefined) return;
  const mp = normalizeMountPath(fs.mountPoint.path);
  if (!typical.includes(mp)) {
    ctx.report(
      'HC_MOUNT_TYPE_MISMATCH',
      ['storage', 'filesystems', ref.filesystemIndex ?? 0, 'mountPoint'],
      `Mount point '${fs.mountPoint.path}' may not be valid for partition type '${type}'; partitions of this type are generally ${typical.length === 0 ? 'not mounted' : `mounted at ${typical.join(', ')}`}. Check the partition \`type\` (e.g. \`linux-generic\`).`,
    );
  }
}

const VERITY_DATA = ['root', 'usr', 'linux-generic', ACL_USR_TYPE];
const VERITY_HASH = ['root-verity', 'usr-verity', 'linux-generic'];

function checkVerityTypes(
  ctx: RuleContext,
  ref: Referrer,
  leavesOf: (ids: readonly string[]) => Leaf[],
): void {
  const side = (role: 'data' | 'hash') => {
    const target = ref.targets.find((t) => t.role === role);
    return {
      target,
      parts: leavesOf(target === undefined ? [] : [target.id]).flatMap((l) =>
        l.kind === 'partition' ? [l] : [],
      ),
    };
  };
  const types: Partial<Record<'data' | 'hash', string>> = {};
  for (const role of ['data', 'hash'] as const) {
    const { target, parts } = side(role);
    const set = new Set(parts.map((l) => l.partition.type.toLowerCase()));
    if (set.size > 1) {
      ctx.report(
        'HC_MIXED_PARTITION_TYPES',
        target?.path ?? ref.path,
        `Referrer ${ref.name} of kind '${ref.kind}' has a special reference of kind 'verity-${role}-device' which references partitions of different types (${[...set].join(', ')}).`,
      );
      return;
    }
    const allowed = role === 'data' ? VERITY_DATA : VERITY_HASH;
    const bad = parts.find((l) => !allowed.includes(l.partition.type.toLowerCase()));
    if (bad !== undefined) {
      ctx.report(
        'HC_INVALID_PARTITION_TYPE',
        [...bad.device.path, 'type'],
        `Referrer ${ref.name} of kind '${ref.kind}' references partition '${bad.device.id}' as its ${role} device with invalid type '${bad.partition.type}', acceptable types are: ${allowed.map((t) => `'${t}'`).join(' or ')}.`,
      );
      return;
    }
    const t = [...set][0];
    if (t !== undefined) types[role] = t;
  }
  const data = types.data;
  const hash = types.hash;
  if (data === undefined || hash === undefined) return;
  const expected =
    data === 'root' ? 'root-verity' : data === 'usr' || data === ACL_USR_TYPE ? 'usr-verity' : undefined;
  if (expected !== undefined && hash !== expected) {
    const verity = ctx.config.storage.verity.find((v) => `'${v.id}'` === ref.name);
    ctx.report(
      'HC_VERITY_HASH_TYPE_MISMATCH',
      ref.targets.find((t) => t.role === 'hash')?.path ?? ref.path,
      `Verity device '${verity?.name ?? ref.name}' has a data device with partition type '${data}', which expects the hash device partition type to be '${expected}', but the type is '${hash}'. Set the hash partition's \`type: ${expected}\`.`,
    );
  }
}
