import { EngineError } from '../../errors.ts';

/** Top-level sections install understands; everything else is reported, never silently ignored. */
const STORAGE_SECTIONS = new Set(['image', 'storage']);
/** Sections about the agent itself: they change nothing on disk, so they are accepted with a warning. */
const AGENT_SECTIONS = new Set(['trident', 'internalParams']);
const UNSUPPORTED_STORAGE = ['raid', 'encryption'];

function present(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.values(value as object).some(present);
  return true;
}

/**
 * This install covers the storage side of a Host Configuration. OS configuration (users, netplan,
 * SELinux, services, kernel command line, extensions), scripts, health checks, the management OS,
 * RAID, encryption and adopted partitions are refused with the list of what was found, so nobody
 * mistakes a partial install for a complete one. Agent settings only warn.
 */
export function checkSupportedSections(raw: unknown): string[] {
  const warnings: string[] = [];
  if (typeof raw !== 'object' || raw === null) return warnings;
  const found: string[] = [];
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (STORAGE_SECTIONS.has(key)) continue;
    if (AGENT_SECTIONS.has(key)) {
      if (present(value))
        warnings.push(`'${key}' configures the agent, not the disk; it has no effect on this install`);
      continue;
    }
    if (!present(value)) continue;
    const inner =
      typeof value === 'object' && value !== null && !Array.isArray(value)
        ? Object.keys(value).filter((k) => present((value as Record<string, unknown>)[k]))
        : [];
    found.push(inner.length > 0 ? inner.map((k) => `${key}.${k}`).join(', ') : key);
  }
  const storage = (raw as { storage?: Record<string, unknown> }).storage ?? {};
  for (const key of UNSUPPORTED_STORAGE) if (present(storage[key])) found.push(`storage.${key}`);
  const disks = Array.isArray(storage['disks']) ? (storage['disks'] as Array<Record<string, unknown>>) : [];
  disks.forEach((disk, i) => {
    if (present(disk['adoptedPartitions'])) found.push(`storage.disks[${i}].adoptedPartitions`);
  });
  if (found.length > 0) {
    throw new EngineError(
      'UNSUPPORTED_CONFIGURATION_ERROR',
      'unsupported-feature',
      `install supports the storage part of a Host Configuration (disks, partitions, A/B volumes, verity, filesystems, swap); not supported here: ${found.join(', ')}. Remove these sections, or apply them with upstream Trident`,
      { code: 'ENGINE_UNSUPPORTED_SECTION' },
    );
  }
  return warnings;
}
