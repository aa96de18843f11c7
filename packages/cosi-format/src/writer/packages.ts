import { join } from 'node:path';
import { CosiError } from '../errors.ts';
import type { FsReader } from './fs-reader.ts';

/** One `osPackages` entry (COSI 1.1: name, version, release and arch all present). */
export interface PackageInfo {
  name: string;
  version: string;
  release: string;
  arch: string;
}

/**
 * Parses a dpkg status file. Only installed packages count. Debian versions are
 * `[epoch:]upstream[-revision]`: the revision becomes `release` so the fields line up with RPM's
 * VERSION/RELEASE; the epoch stays in `version`. `arch` is copied verbatim (`amd64`, `all`, ...).
 */
export function parseDpkgStatus(text: string): PackageInfo[] {
  const packages: PackageInfo[] = [];
  for (const paragraph of text.split(/\n\s*\n/u)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of paragraph.split('\n')) {
      if (/^\s/u.test(line)) {
        if (last !== undefined) fields.set(last, `${fields.get(last) ?? ''}\n${line.trim()}`);
        continue;
      }
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      last = line.slice(0, colon);
      fields.set(last, line.slice(colon + 1).trim());
    }
    const name = fields.get('Package');
    const full = fields.get('Version');
    const status = fields.get('Status')?.split(/\s+/u);
    if (name === undefined || full === undefined || status?.[2] !== 'installed') continue;
    const dash = full.lastIndexOf('-');
    packages.push({
      name,
      version: dash === -1 ? full : full.slice(0, dash),
      release: dash === -1 ? '' : full.slice(dash + 1),
      arch: fields.get('Architecture') ?? '',
    });
  }
  return packages;
}

const RPMTAG = { NAME: 1000, VERSION: 1001, RELEASE: 1002, ARCH: 1022 } as const;
const STRING_TYPES = new Set([6, 8, 9]); // STRING, STRING_ARRAY, I18NSTRING

/**
 * Reads NAME/VERSION/RELEASE/ARCH from an RPM header blob as rpmdb.sqlite stores it: no lead and
 * no magic, just `il`, `dl` (big-endian u32), `il` 16-byte index entries, then the data store.
 */
export function parseRpmHeaderBlob(blob: Uint8Array): PackageInfo | undefined {
  if (blob.length < 8) return undefined;
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const il = view.getUint32(0, false);
  const dl = view.getUint32(4, false);
  const store = 8 + il * 16;
  if (store + dl > blob.length) return undefined;
  const strings = new Map<number, string>();
  for (let i = 0; i < il; i++) {
    const tag = view.getUint32(8 + i * 16, false);
    const type = view.getUint32(12 + i * 16, false);
    const offset = view.getInt32(16 + i * 16, false);
    if (!STRING_TYPES.has(type) || offset < 0 || offset >= dl) continue;
    const start = store + offset;
    let end = start;
    while (end < store + dl && blob[end] !== 0) end++;
    strings.set(tag, new TextDecoder().decode(blob.subarray(start, end)));
  }
  const name = strings.get(RPMTAG.NAME);
  const version = strings.get(RPMTAG.VERSION);
  if (name === undefined || version === undefined) return undefined;
  // `rpm -q --qf %{ARCH}` prints `(none)` for packages without one (gpg-pubkey).
  return {
    name,
    version,
    release: strings.get(RPMTAG.RELEASE) ?? '',
    arch: strings.get(RPMTAG.ARCH) ?? '(none)',
  };
}

export async function readRpmSqlite(path: string): Promise<PackageInfo[]> {
  // Loaded lazily: node:sqlite is only needed (and only warns) for RPM-based images.
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const rows = db.prepare('SELECT blob FROM Packages ORDER BY hnum').all() as Array<{ blob: Uint8Array }>;
    return rows.map((row) => parseRpmHeaderBlob(row.blob)).filter((p): p is PackageInfo => p !== undefined);
  } finally {
    db.close();
  }
}

/**
 * `osPackages` from the root filesystem: rpm sqlite database, else dpkg status, else `[]` (never
 * null: Trident rejects a missing list, reference §2.3). Berkeley DB and ndb rpm databases cannot be
 * read here; the caller must pass `osPackages` explicitly for those.
 */
export async function readOsPackages(root: FsReader, scratch: string): Promise<PackageInfo[]> {
  const rpmDir = (await root.listDir('/var/lib/rpm')) ?? (await root.listDir('/usr/lib/sysimage/rpm'));
  const rpmBase =
    (await root.listDir('/var/lib/rpm')) !== undefined ? '/var/lib/rpm' : '/usr/lib/sysimage/rpm';
  if (rpmDir?.includes('rpmdb.sqlite')) {
    const local = join(scratch, 'rpmdb.sqlite');
    await root.dumpFile(`${rpmBase}/rpmdb.sqlite`, local);
    // An unmerged write-ahead log holds committed rows; copy it beside the database.
    if (rpmDir.includes('rpmdb.sqlite-wal'))
      await root.dumpFile(`${rpmBase}/rpmdb.sqlite-wal`, `${local}-wal`);
    return readRpmSqlite(local);
  }
  if (rpmDir?.includes('Packages') || rpmDir?.includes('Packages.db')) {
    throw new CosiError(
      'COSI_BUILD_INPUT',
      `the root filesystem has a Berkeley DB or ndb rpm database in ${rpmBase}, which cannot be read; pass osPackages explicitly`,
    );
  }
  const status = await root.readFile('/var/lib/dpkg/status');
  return status === undefined ? [] : parseDpkgStatus(status.toString('utf8'));
}
