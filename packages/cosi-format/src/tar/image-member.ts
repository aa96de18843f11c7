import type { TarEntry } from './tar-index.ts';

/** What an image path of the metadata finds in the archive. */
export type ImageMemberLookup =
  | { ok: true; entry: TarEntry }
  | { ok: false; reason: 'missing'; message: string }
  | { ok: false; reason: 'not-regular'; entry: TarEntry; message: string };

/**
 * The one rule for the archive member behind an image path, used by validation, the reader and
 * extraction alike: the path is looked up as Trident compares it (one leading `./` ignored), and
 * the member must be a regular file. Symlinks, hard links, devices, FIFOs and directories are
 * refused, whatever their size field says: their "content" is not the image (a hard link's data
 * lives under another name, a symlink points anywhere).
 */
export function lookupImageMember(
  byPath: ReadonlyMap<string, TarEntry>,
  imagePath: string,
): ImageMemberLookup {
  const entry = byPath.get(imagePath.replace(/^\.\//u, ''));
  if (!entry) {
    return { ok: false, reason: 'missing', message: `image "${imagePath}" is not a member of the archive` };
  }
  if (entry.type !== 'file') {
    const target = entry.linkname === '' ? '' : ` (to "${entry.linkname}")`;
    return {
      ok: false,
      reason: 'not-regular',
      entry,
      message: `image "${imagePath}" is a ${entry.type}${target} in the archive, not a regular file`,
    };
  }
  return { ok: true, entry };
}
