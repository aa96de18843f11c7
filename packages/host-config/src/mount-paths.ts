/**
 * Mount paths are compared by components (reference §7): `//var/` equals `/var`, and `/variable` is
 * not under `/var`.
 */
export function normalizeMountPath(path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  return `${path.startsWith('/') ? '/' : ''}${parts.join('/')}`;
}

export function isUnder(path: string, mount: string): boolean {
  const p = normalizeMountPath(path);
  const m = normalizeMountPath(mount);
  if (m === '/') return p.startsWith('/');
  return p === m || p.startsWith(`${m}/`);
}

/** Index of the entry whose path is the longest component prefix of `path`, or -1. */
export function longestPrefixMount(path: string, mounts: readonly (string | undefined)[]): number {
  let best = -1;
  let bestLength = -1;
  mounts.forEach((mount, i) => {
    if (mount === undefined || !isUnder(path, mount)) return;
    const length = normalizeMountPath(mount).length;
    if (length > bestLength) {
      best = i;
      bestLength = length;
    }
  });
  return best;
}

/** "Read-only" means the exact option item `ro` is present. */
export function isReadOnly(options: string): boolean {
  return options.split(',').some((o) => o.trim() === 'ro');
}
