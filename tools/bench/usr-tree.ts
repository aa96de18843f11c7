import fs from 'node:fs';
import path from 'node:path';

/**
 * Stages a realistic filesystem tree for benchmarks: files from /usr, in name order, hard-linked
 * (copied across filesystems) into `dir` until `budget` bytes. Binaries, libraries and text
 * compress like a real OS image does.
 */
export function stageUsrTree(dir: string, budget: number): number {
  let total = 0;
  const walk = (src: string, dst: string): boolean => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(src, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    } catch {
      return true;
    }
    fs.mkdirSync(dst, { recursive: true });
    for (const entry of entries) {
      const from = path.join(src, entry.name);
      const to = path.join(dst, entry.name);
      if (entry.isDirectory()) {
        if (!walk(from, to)) return false;
      } else if (entry.isSymbolicLink()) {
        fs.symlinkSync(fs.readlinkSync(from), to);
      } else if (entry.isFile()) {
        const size = fs.statSync(from).size;
        if (total + size > budget) return false;
        try {
          fs.linkSync(from, to);
        } catch {
          fs.copyFileSync(from, to);
        }
        total += size;
      }
    }
    return true;
  };
  walk('/usr', dir);
  return total;
}
