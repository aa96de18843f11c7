/**
 * Decides which API era a document was written for (reference §5). The meaning of a filesystem
 * without `source` flipped on 2025-02-13 (create -> image), so the era is read from several markers,
 * never from one field.
 */
export type ApiEra = 'current' | 'bridge' | 'legacy';

export interface EraVerdict {
  era: ApiEra;
  /** Human-readable markers that decided it. */
  markers: string[];
  /** Set when the markers contradict each other. */
  conflict?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export function detectEra(root: unknown): EraVerdict {
  const doc = isObj(root) && isObj(root.hostConfiguration) ? root.hostConfiguration : root;
  if (!isObj(doc)) return { era: 'current', markers: [] };
  const storage = isObj(doc.storage) ? doc.storage : {};
  const filesystems = Array.isArray(storage.filesystems) ? storage.filesystems.filter(isObj) : [];
  const legacy: string[] = [];
  const bridge: string[] = [];
  const old: string[] = [];
  if ('osImage' in doc) legacy.push('`osImage` (renamed `image` in 2025-02)');
  filesystems.forEach((fs, i) => {
    const src = fs.source;
    if (isObj(src)) {
      if (src.type === 'create') legacy.push(`filesystems[${i}].source {type: create}`);
      else if (src.type === 'new') bridge.push(`filesystems[${i}].source {type: new}`);
      else old.push(`filesystems[${i}].source map`);
    } else if (src === 'image' || src === 'new' || src === 'adopted')
      bridge.push(`filesystems[${i}].source: ${src}`);
    else if (src === 'create' || src === 'os-image') old.push(`filesystems[${i}].source: ${String(src)}`);
    if (fs.type === 'swap' || fs.type === 'other') old.push(`filesystems[${i}].type: ${fs.type}`);
  });
  if ('verityFilesystems' in storage) old.push('`storage.verityFilesystems`');
  for (const section of ['os', 'managementOs']) {
    const s = doc[section];
    if (isObj(s) && 'network' in s) old.push(`\`${section}.network\``);
  }
  if (isObj(doc.internalParams) && 'cosi' in doc.internalParams) old.push('`internalParams.cosi`');
  const markers = [...legacy, ...bridge, ...old];
  if (legacy.length > 0 && bridge.length > 0) {
    return {
      era: 'legacy',
      markers,
      conflict: `${legacy[0]} is from before 2025-02-13 but ${bridge[0]} is from after`,
    };
  }
  if (legacy.length > 0) return { era: 'legacy', markers };
  if (bridge.length > 0) return { era: 'bridge', markers };
  // No source markers. Before 2025-04 every filesystem had a required `type`; a filesystem with a
  // `type` and no `source` in a document without `image` was created, not taken from an image.
  const typedWithoutSource = filesystems.some(
    (fs) => fs.source === undefined && typeof fs.type === 'string' && fs.type !== 'swap',
  );
  if (!('image' in doc) && typedWithoutSource)
    return { era: 'legacy', markers: [...markers, 'filesystems with `type` but no `source` and no `image`'] };
  if (typedWithoutSource) return { era: 'bridge', markers: [...markers, 'image filesystems with a `type`'] };
  return { era: markers.length > 0 ? 'bridge' : 'current', markers };
}
