/**
 * What changed between the Host Configuration a host runs and a new one, sorted by what each
 * change needs (upstream `select_servicing_type` of each subsystem; reference servicing.md §7):
 * `os.sysexts`, `os.confexts` and `os.netplan` apply at runtime; the image, users, hostname,
 * modules, services, kernel command line, SELinux and any scripts need an A/B update; storage,
 * health, the agent's own settings and the management OS change nothing on the host.
 *
 * Extension entries compare by URL and hash, and by path only where the new one declares it: the
 * recorded spec has every image's final path filled in, which the user's file usually leaves out.
 */
const RUNTIME = ['os.sysexts', 'os.confexts', 'os.netplan'] as const;
/** Runtime-typed upstream, but nothing applies them at runtime (reference §7, inferred from code). */
const RUNTIME_INERT = ['os.additionalFiles', 'os.uefiFallback'] as const;
const AB_UPDATE = [
  'image',
  'os.users',
  'os.hostname',
  'os.modules',
  'os.services',
  'os.kernelCommandLine',
  'os.selinux',
] as const;

export interface ConfigurationChanges {
  /** Paths a runtime update applies. */
  runtime: string[];
  /** Paths that need an A/B update (a new image, or OS configuration only a new root takes). */
  abUpdate: string[];
  /** Paths that change nothing on the host, or that upstream types as runtime and never applies. */
  inert: string[];
}

type Doc = Record<string, unknown> | undefined;

function at(doc: Doc, path: string): unknown {
  let value: unknown = doc;
  for (const key of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Empty lists, empty maps and null read as absent, as the parser defaults them. */
function canonical(value: unknown): string {
  const normal = (v: unknown): unknown => {
    if (v === null || v === undefined) return undefined;
    if (Array.isArray(v)) return v.length === 0 ? undefined : v.map(normal);
    if (typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>)
        .map(([k, x]) => [k, normal(x)] as const)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => a.localeCompare(b));
      return entries.length === 0 ? undefined : Object.fromEntries(entries);
    }
    return v;
  };
  return JSON.stringify(normal(value)) ?? '';
}

function sameExtensions(current: unknown, next: unknown): boolean {
  const list = (v: unknown) => (Array.isArray(v) ? (v as Array<Record<string, unknown>>) : []);
  const a = list(current);
  const b = list(next);
  return (
    a.length === b.length &&
    b.every((entry, i) => {
      const old = a[i]!;
      return (
        old['url'] === entry['url'] &&
        String(old['sha384']).toLowerCase() === String(entry['sha384']).toLowerCase() &&
        (entry['path'] === undefined || entry['path'] === null || old['path'] === entry['path'])
      );
    })
  );
}

function topLevelKeys(...docs: Doc[]): string[] {
  const keys = new Set<string>();
  for (const doc of docs) for (const key of Object.keys(doc ?? {})) keys.add(key);
  return [...keys];
}

export function configurationChanges(current: Doc, next: Doc): ConfigurationChanges {
  const changes: ConfigurationChanges = { runtime: [], abUpdate: [], inert: [] };
  const differs = (path: string) =>
    path === 'os.sysexts' || path === 'os.confexts'
      ? !sameExtensions(at(current, path), at(next, path))
      : canonical(at(current, path)) !== canonical(at(next, path));
  for (const path of RUNTIME) if (differs(path)) changes.runtime.push(path);
  for (const path of AB_UPDATE) if (differs(path)) changes.abUpdate.push(path);
  // Upstream redoes an A/B update whenever the new configuration has scripts, changed or not.
  if (canonical(at(next, 'scripts')) !== '') changes.abUpdate.push('scripts');
  for (const path of RUNTIME_INERT) if (differs(path)) changes.inert.push(path);
  const os = new Set<string>([...RUNTIME, ...RUNTIME_INERT, ...AB_UPDATE].filter((p) => p.startsWith('os.')));
  for (const key of topLevelKeys(at(current, 'os') as Doc, at(next, 'os') as Doc))
    if (!os.has(`os.${key}`) && differs(`os.${key}`)) changes.inert.push(`os.${key}`);
  for (const key of topLevelKeys(current, next))
    if (key !== 'os' && key !== 'image' && key !== 'scripts' && differs(key)) changes.inert.push(key);
  return changes;
}
