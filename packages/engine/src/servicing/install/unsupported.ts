import { EngineError } from '../../errors.ts';

/** Top-level sections install applies: storage, the image, OS configuration, scripts and health. */
// `health` is recorded with the rest of the spec and run by `trident commit` on the first boot.
const APPLIED_SECTIONS = new Set(['image', 'storage', 'os', 'scripts', 'health']);
/** Sections about the agent itself: they change nothing on disk, so they are accepted with a warning. */
const AGENT_SECTIONS = new Set(['trident', 'internalParams']);

/**
 * What install still refuses, by Host Configuration path, with what it would take. Each entry is
 * also listed in the engine README.
 */
const REFUSED: ReadonlyArray<{ path: string[]; why: string }> = [
  { path: ['managementOs'], why: 'users and network of the installer OS are not configured' },
];

function present(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.values(value as object).some(present);
  return true;
}

function at(raw: unknown, path: string[]): unknown {
  let value = raw;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/**
 * Install applies storage (partitions, adopted partitions, RAID arrays, LUKS2 volumes, verity,
 * filesystems, swap), the
 * OS configuration (users, hostname, netplan, SELinux mode, modules, services, additional files,
 * kernel command line, sysexts and confexts) and scripts. What it does not apply yet is
 * refused with the list of what was found and why, so nobody mistakes a partial install for a
 * complete one. Agent settings only warn.
 */
export function checkSupportedSections(raw: unknown): string[] {
  const warnings: string[] = [];
  if (typeof raw !== 'object' || raw === null) return warnings;
  const found: string[] = [];
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (AGENT_SECTIONS.has(key)) {
      if (key === 'internalParams' && present(value))
        warnings.push(`'${key}' tunes the agent, not the disk; it has no effect on this install`);
      continue;
    }
    if (!APPLIED_SECTIONS.has(key) && !REFUSED.some((r) => r.path[0] === key) && present(value))
      found.push(`${key} (not a section install knows)`);
  }
  for (const { path, why } of REFUSED) if (present(at(raw, path))) found.push(`${path.join('.')} (${why})`);
  if (found.length > 0) {
    throw new EngineError(
      'UNSUPPORTED_CONFIGURATION_ERROR',
      'unsupported-feature',
      `install does not apply every section of this Host Configuration; not supported here: ${found.join('; ')}. Remove these sections, or apply them with upstream Trident`,
      { code: 'ENGINE_UNSUPPORTED_SECTION' },
    );
  }
  return warnings;
}
