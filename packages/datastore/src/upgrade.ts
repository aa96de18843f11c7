/**
 * Host Status rows written by older Trident versions (before the 2025 API changes) carry Host
 * Configurations in the old shape. Trident upgrades them when it loads a row
 * (`fix_old_host_status`, reference servicing.md §6); so do we, with the same rules, so an old
 * host's history stays readable. Only a document with an old marker is touched.
 *
 * - `osImage` → `image` (its `type` dropped, `sha384: ignored`: old images carried no hash);
 * - `os.network` → `os.netplan`;
 * - `trident.selfUpgrade` removed;
 * - `storage.filesystems[].source` maps (image sources only) and `type` removed;
 * - `storage.verityFilesystems` → `storage.verity` devices (`verity0`, …) plus filesystems on them.
 *
 * A user's own Host Configuration files are migrated by `@trident/host-config` (`config migrate`);
 * this covers only what Trident itself wrote into its datastore.
 */
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function isOldHostConfiguration(spec: unknown): spec is Obj {
  if (!isObj(spec)) return false;
  if ('osImage' in spec) return true;
  if (isObj(spec['os']) && 'network' in spec['os']) return true;
  if (isObj(spec['trident']) && 'selfUpgrade' in spec['trident']) return true;
  const storage = spec['storage'];
  if (!isObj(storage)) return false;
  if ('verityFilesystems' in storage) return true;
  const filesystems = storage['filesystems'];
  return Array.isArray(filesystems) && filesystems.some((fs) => isObj(fs) && isObj(fs['source']));
}

/** Thrown for an old document that cannot be expressed in the current API. */
export class HostStatusUpgradeError extends Error {
  override readonly name = 'HostStatusUpgradeError';
}

function upgradeHostConfiguration(spec: Obj): Obj {
  const out: Obj = structuredClone(spec);
  const osImage = out['osImage'];
  if (isObj(osImage)) {
    delete out['osImage'];
    const { type: _type, ...image } = osImage;
    out['image'] = { ...image, sha384: 'ignored' };
  }
  const os = out['os'];
  if (isObj(os) && 'network' in os) {
    os['netplan'] = os['network'];
    delete os['network'];
  }
  const trident = out['trident'];
  if (isObj(trident)) delete trident['selfUpgrade'];
  const storage = out['storage'];
  if (!isObj(storage)) return out;
  const filesystems: unknown[] = Array.isArray(storage['filesystems']) ? storage['filesystems'] : [];
  for (const fs of filesystems) {
    if (!isObj(fs)) continue;
    const source = fs['source'];
    if (isObj(source)) {
      if (source['type'] === 'create' || source['type'] === 'new')
        throw new HostStatusUpgradeError(
          `an old filesystem with source type '${String(source['type'])}' cannot be converted`,
        );
      delete fs['source'];
    }
    delete fs['type'];
  }
  const oldVerity = storage['verityFilesystems'];
  delete storage['verityFilesystems'];
  if (Array.isArray(oldVerity) && oldVerity.length > 0) {
    const verity: Obj[] = [];
    oldVerity.forEach((item, i) => {
      if (!isObj(item)) throw new HostStatusUpgradeError('an old verity filesystem is not a mapping');
      for (const field of ['name', 'dataDeviceId', 'hashDeviceId', 'mountPoint'])
        if (!(field in item)) throw new HostStatusUpgradeError(`an old verity filesystem has no ${field}`);
      const id = `verity${i}`;
      verity.push({
        name: item['name'],
        id,
        dataDeviceId: item['dataDeviceId'],
        hashDeviceId: item['hashDeviceId'],
      });
      filesystems.push({ deviceId: id, mountPoint: item['mountPoint'] });
    });
    storage['verity'] = verity;
    storage['filesystems'] = filesystems;
  }
  return out;
}

/**
 * Returns the document with old Host Configurations upgraded; anything else unchanged. A document
 * that looks old but cannot be converted (a `create`/`new` filesystem source) is kept as written:
 * Trident refuses to load such a row, but reading it back (`trident get`) is still useful.
 */
export function upgradeHostStatus(document: unknown): unknown {
  if (!isObj(document)) return document;
  const spec = document['spec'];
  const specOld = document['specOld'];
  if (!isOldHostConfiguration(spec) && !isOldHostConfiguration(specOld)) return document;
  try {
    const out: Obj = { ...document };
    if (isObj(spec)) out['spec'] = upgradeHostConfiguration(spec);
    if (isObj(specOld)) out['specOld'] = upgradeHostConfiguration(specOld);
    return out;
  } catch (error) {
    if (error instanceof HostStatusUpgradeError) return document;
    throw error;
  }
}
