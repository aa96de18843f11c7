/**
 * Rewrites an older Host Configuration in the current API (reference §5), editing the YAML syntax
 * tree so comments and key order survive. Every change is reported; what cannot be migrated is
 * refused with guidance.
 */
import {
  type Document,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  Pair,
  parseDocument,
  YAMLMap,
  YAMLSeq,
} from 'yaml';
import { CODES, type HostConfigCode, type Severity } from '../codes.ts';
import { type Finding, HostConfigError } from '../errors.ts';
import { type ParseResult, parseHostConfig } from '../parse.ts';
import { formatPath, type Path } from '../path.ts';
import { NEW_FILESYSTEM_TYPES } from '../schema/storage.ts';
import { type ApiEra, detectEra } from './detect.ts';

export interface MigrationResult {
  /** True when the document was migrated (or already current) and nothing was refused. */
  readonly ok: boolean;
  readonly era: ApiEra;
  /** The migrated YAML; `undefined` when refused. */
  readonly text: string | undefined;
  /** What was changed (info/warning) and what was refused (error), with the original positions. */
  readonly changes: readonly Finding[];
  /** Validation of the migrated text. */
  readonly validation: ParseResult | undefined;
}

const str = (node: unknown): string | undefined =>
  isScalar(node) && node.value !== null ? String(node.value) : undefined;

class Migrator {
  readonly changes: Finding[] = [];
  readonly doc: Document.Parsed;
  private readonly lines: LineCounter;

  constructor(doc: Document.Parsed, lines: LineCounter) {
    this.doc = doc;
    this.lines = lines;
  }

  note(code: HostConfigCode, path: Path, node: unknown, message: string, severity?: Severity): void {
    const offset = (node as Node | undefined)?.range?.[0];
    const pos = offset === undefined ? { line: 0, col: 0 } : this.lines.linePos(offset);
    this.changes.push({
      code,
      severity: severity ?? CODES[code].severity,
      path: formatPath(path),
      line: pos.line,
      column: pos.col,
      message,
    });
  }

  pair(map: YAMLMap, key: string): Pair | undefined {
    return map.items.find((p) => str(p.key) === key) as Pair | undefined;
  }

  rename(map: YAMLMap, from: string, to: string): Pair | undefined {
    const p = this.pair(map, from);
    if (p !== undefined && isScalar(p.key)) p.key.value = to;
    return p;
  }

  /** Sets `key` right after `after` (or last), keeping the other keys in place. */
  setAfter(map: YAMLMap, key: string, value: unknown, after: string[]): void {
    const existing = this.pair(map, key);
    const node = this.doc.createNode(value);
    if (existing !== undefined) {
      existing.value = node;
      return;
    }
    let index = -1;
    for (const a of after) {
      const i = map.items.findIndex((p) => str(p.key) === a);
      if (i >= 0) {
        index = i;
        break;
      }
    }
    const pair = new Pair(this.doc.createNode(key), node);
    if (index < 0) map.items.push(pair);
    else map.items.splice(index + 1, 0, pair);
  }

  map(parent: YAMLMap, key: string, after: string[] = []): YAMLMap {
    const value = parent.get(key, true);
    if (isMap(value)) return value;
    const created = new YAMLMap();
    this.setAfter(parent, key, created, after);
    return (parent.get(key, true) as YAMLMap | undefined) ?? created;
  }

  seq(parent: YAMLMap, key: string, after: string[] = []): YAMLSeq {
    const value = parent.get(key, true);
    if (isSeq(value)) return value;
    this.setAfter(parent, key, new YAMLSeq(), after);
    return parent.get(key, true) as unknown as YAMLSeq;
  }
}

export interface MigrateOptions {
  /** Validate the migrated text (default true). */
  validate?: boolean;
}

export function migrateHostConfig(text: string, options: MigrateOptions = {}): MigrationResult {
  if (typeof text !== 'string')
    throw new HostConfigError('HC_INVALID_ARGUMENT', 'migrateHostConfig expects the YAML text as a string.');
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  // Not readable: report the same findings as validation would.
  const unreadable = (): MigrationResult => {
    const validation = parseHostConfig(text);
    return {
      ok: false,
      era: 'current',
      text: undefined,
      changes: validation.findings.filter((f) => f.severity === 'error'),
      validation,
    };
  };
  if (doc.errors.length > 0 || !isMap(doc.contents)) return unreadable();
  let plain: unknown;
  try {
    plain = doc.toJS();
  } catch {
    // yaml parses some documents it then cannot convert, e.g. `{\n*a\n}` (an alias before its
    // anchor, as a flow-map key) throws "Unresolved alias"; found by the fuzz test.
    return unreadable();
  }
  const m = new Migrator(doc, lines);
  const verdict = detectEra(plain);
  if (verdict.conflict !== undefined) {
    m.note(
      'HC_MIGRATE_AMBIGUOUS',
      ['storage', 'filesystems'],
      doc.contents,
      `The document mixes API eras (${verdict.conflict}), so a filesystem without \`source\` could mean "create" or "from the image". Make every filesystem's \`source\` explicit, then migrate again.`,
    );
    return { ok: false, era: verdict.era, text: undefined, changes: m.changes, validation: undefined };
  }
  let root: YAMLMap = doc.contents;
  const dropAllowed = (map: YAMLMap) => {
    const allowed = m.pair(map, 'allowedOperations');
    if (allowed === undefined) return;
    m.note(
      'HC_MIGRATE_ALLOWED_OPERATIONS',
      ['allowedOperations'],
      allowed.key,
      'Removed `allowedOperations`; pass the allowed operations on the command line instead.',
    );
    map.delete('allowedOperations');
  };
  dropAllowed(root);
  const wrapper = m.pair(root, 'hostConfiguration');
  if (wrapper !== undefined && isMap(wrapper.value)) {
    m.note(
      'HC_MIGRATE_WRAPPER',
      ['hostConfiguration'],
      wrapper.key,
      'Removed the top-level `hostConfiguration:` wrapper; its contents are now the document.',
    );
    const comment = root.commentBefore ?? (isScalar(wrapper.key) ? wrapper.key.commentBefore : undefined);
    doc.contents = wrapper.value as typeof doc.contents;
    if (comment !== undefined && comment !== null) wrapper.value.commentBefore = comment;
    root = wrapper.value as typeof root;
    dropAllowed(root);
  }
  migrateImage(m, root);
  migrateNetwork(m, root);
  migrateFilesystems(m, root, verdict.era);
  if (!m.changes.some((c) => c.severity === 'error')) migrateVerity(m, root);
  const refused = m.changes.some((c) => c.severity === 'error');
  if (refused)
    return { ok: false, era: verdict.era, text: undefined, changes: m.changes, validation: undefined };
  if (m.changes.length === 0) {
    m.note(
      'HC_MIGRATE_ALREADY_CURRENT',
      [],
      undefined,
      'Nothing to migrate: the document already uses the current API.',
    );
  }
  const out = doc.toString({ lineWidth: 0 });
  const validation = options.validate === false ? undefined : parseHostConfig(out);
  return { ok: true, era: verdict.era, text: out, changes: m.changes, validation };
}

/** Like `migrateHostConfig`, but throws `HC_INVALID_DOCUMENT` when the document is refused. */
export function migrateHostConfigOrThrow(
  text: string,
  options: MigrateOptions = {},
): { text: string; changes: readonly Finding[]; era: ApiEra } {
  const result = migrateHostConfig(text, options);
  if (!result.ok || result.text === undefined) {
    const first = result.changes.find((c) => c.severity === 'error');
    throw new HostConfigError(
      'HC_INVALID_DOCUMENT',
      `The Host Configuration cannot be migrated${first === undefined ? '' : `: ${first.message}`}`,
      { findings: result.changes },
    );
  }
  return { text: result.text, changes: result.changes, era: result.era };
}

function migrateImage(m: Migrator, root: YAMLMap): void {
  const old = m.pair(root, 'osImage');
  const internal = root.get('internalParams', true);
  if (isMap(internal) && internal.has('cosi')) {
    m.note(
      'HC_MIGRATE_COSI_PARAM',
      ['internalParams', 'cosi'],
      m.pair(internal, 'cosi')?.key,
      'Removed `internalParams.cosi`: COSI images are the only kind now.',
    );
    internal.delete('cosi');
    if (internal.items.length === 0) root.delete('internalParams');
  }
  if (old === undefined) return;
  if (root.has('image')) {
    m.note(
      'HC_MIGRATE_AMBIGUOUS',
      ['osImage'],
      old.key,
      'The document has both `osImage` and `image`: delete the one that is out of date, then migrate again.',
    );
    return;
  }
  m.rename(root, 'osImage', 'image');
  const value = old.value;
  if (isMap(value)) {
    if (value.has('type')) value.delete('type');
    if (!value.has('sha384')) value.set('sha384', 'ignored');
  }
  m.note(
    'HC_MIGRATE_OS_IMAGE',
    ['osImage'],
    old.key,
    'Renamed `osImage` to `image` and removed `type: cosi`; the image kind is now read from the file.',
  );
  m.note(
    'HC_MIGRATE_HASH_NOT_PINNED',
    ['image', 'sha384'],
    old.key,
    'Set `image.sha384: ignored` because the old API had no hash: replace it with the SHA-384 of the COSI `metadata.json` to pin the image.',
  );
}

function migrateNetwork(m: Migrator, root: YAMLMap): void {
  for (const section of ['os', 'managementOs']) {
    const s = root.get(section, true);
    if (!isMap(s)) continue;
    const p = m.pair(s, 'network');
    if (p === undefined) continue;
    if (s.has('netplan')) {
      m.note(
        'HC_MIGRATE_AMBIGUOUS',
        [section, 'network'],
        p.key,
        `\`${section}\` has both \`network\` and \`netplan\`: keep one.`,
      );
      continue;
    }
    m.note(
      'HC_MIGRATE_NETPLAN',
      [section, 'network'],
      p.key,
      `Renamed \`${section}.network\` to \`${section}.netplan\` (same Netplan v2 content).`,
    );
    m.rename(s, 'network', 'netplan');
  }
}

function migrateFilesystems(m: Migrator, root: YAMLMap, era: ApiEra): void {
  const storage = root.get('storage', true);
  if (!isMap(storage)) return;
  const list = storage.get('filesystems', true);
  if (!isSeq(list)) return;
  const swaps: { deviceId: string; node: unknown; path: Path }[] = [];
  const keep: unknown[] = [];
  list.items.forEach((item, i) => {
    const path: Path = ['storage', 'filesystems', i];
    if (!isMap(item)) {
      keep.push(item);
      return;
    }
    const type = str(item.get('type', true));
    const sourceNode = item.get('source', true);
    if (type === 'swap') {
      const deviceId = str(item.get('deviceId', true));
      if (deviceId !== undefined) {
        swaps.push({ deviceId, node: item, path });
        return;
      }
    }
    if (type === 'other') {
      m.note(
        'HC_MIGRATE_TYPE_OTHER',
        [...path, 'type'],
        item.get('type', true),
        '`type: other` has no current equivalent: use a concrete type (`ext4`, `xfs`, `vfat`, `ntfs`) with `source: new`/`adopted`, or take the filesystem from the image.',
      );
      keep.push(item);
      return;
    }
    let source: 'image' | 'new' | 'adopted' | undefined;
    let why = '';
    if (isMap(sourceNode)) {
      const kind = str(sourceNode.get('type', true));
      if (kind === 'image' || kind === 'esp-image') {
        m.note(
          'HC_MIGRATE_PARTITION_IMAGE',
          [...path, 'source'],
          sourceNode,
          `This filesystem is written from its own partition image (\`${str(sourceNode.get('url', true)) ?? '?'}\`), which the current API no longer supports. Build a COSI image that contains this filesystem at its mount point, reference it in \`image\`, and remove \`source\` here.`,
        );
        keep.push(item);
        return;
      }
      source = kind === 'create' || kind === 'new' ? 'new' : kind === 'adopted' ? 'adopted' : 'image';
      why = `\`source: {type: ${kind ?? ''}}\``;
    } else if (sourceNode !== undefined && sourceNode !== null) {
      const s = str(sourceNode);
      if (s === 'create') [source, why] = ['new', '`source: create`'];
      else if (s === 'os-image') [source, why] = ['image', '`source: os-image`'];
      else if (s === 'image' || s === 'new' || s === 'adopted') source = s;
    } else if (era === 'legacy') {
      [source, why] = ['new', 'no `source` (the old default was create)'];
    } else source = 'image';
    if (source === undefined) {
      keep.push(item);
      return;
    }
    if (why !== '') {
      if (source === 'image') item.delete('source');
      else m.setAfter(item, 'source', source, ['deviceId']);
      m.note(
        'HC_MIGRATE_SOURCE',
        [...path, 'source'],
        sourceNode ?? item,
        `Rewrote ${why} as ${source === 'image' ? 'no `source` (the image is the default)' : `\`source: ${source}\``}.`,
      );
    }
    if (type !== undefined) {
      const typeNode = item.get('type', true);
      if (source === 'image') {
        item.delete('type');
        m.note(
          'HC_MIGRATE_TYPE_DROPPED',
          [...path, 'type'],
          typeNode,
          `Removed \`type: ${type}\`: a filesystem from the image takes its type from the image.`,
        );
      } else if (source === 'new' && !(NEW_FILESYSTEM_TYPES as readonly string[]).includes(type)) {
        item.delete('type');
        m.note(
          'HC_MIGRATE_TYPE_DROPPED',
          [...path, 'type'],
          typeNode,
          `Removed \`type: ${type}\`, which a new filesystem cannot have; it will be ext4 (set another \`type\` if needed).`,
          'warning',
        );
      }
    }
    keep.push(item);
  });
  if (swaps.length === 0) return;
  list.items = keep as typeof list.items;
  const swapSeq = m.seq(storage, 'swap', ['filesystems', 'raid', 'disks']);
  for (const s of swaps) {
    swapSeq.items.push(m.doc.createNode(s.deviceId));
    m.note(
      'HC_MIGRATE_SWAP',
      s.path,
      s.node,
      `Moved the swap filesystem on '${s.deviceId}' to \`storage.swap\`.`,
    );
  }
}

function migrateVerity(m: Migrator, root: YAMLMap): void {
  const storage = root.get('storage', true);
  if (!isMap(storage)) return;
  const oldPair = m.pair(storage, 'verityFilesystems');
  if (oldPair === undefined) return;
  const list = oldPair.value;
  const hasImage = root.has('image');
  const entries = isSeq(list) ? list.items.filter(isMap) : [];
  if (!hasImage && entries.length > 0) {
    m.note(
      'HC_MIGRATE_PARTITION_IMAGE',
      ['storage', 'verityFilesystems'],
      oldPair.key,
      '`verityFilesystems` wrote the data and hash from their own images and the document has no OS image. Build a COSI image with a verity filesystem at this mount point, add `image`, and migrate again.',
    );
    return;
  }
  const verity = m.seq(storage, 'verity', ['abUpdate', 'raid', 'encryption', 'disks']);
  const filesystems = m.seq(storage, 'filesystems', ['verity']);
  entries.forEach((entry, i) => {
    const name = str(entry.get('name', true)) ?? `verity-${i}`;
    const device: Record<string, unknown> = { id: name, name };
    for (const k of ['dataDeviceId', 'hashDeviceId']) {
      const v = str(entry.get(k, true));
      if (v !== undefined) device[k] = v;
    }
    verity.items.push(m.doc.createNode(device));
    const fs = new YAMLMap();
    fs.set('deviceId', name);
    const mp = entry.get('mountPoint', true);
    if (mp !== undefined) fs.set('mountPoint', mp);
    filesystems.items.push(fs);
    m.note(
      'HC_MIGRATE_VERITY_FILESYSTEMS',
      ['storage', 'verityFilesystems', i],
      entry,
      `Rewrote verity filesystem '${name}' as verity device '${name}' plus a filesystem on it; its data and hash now come from \`image\` (the \`dataImage\`/\`hashImage\` URLs and \`type\` were dropped).`,
    );
  });
  storage.delete('verityFilesystems');
}
