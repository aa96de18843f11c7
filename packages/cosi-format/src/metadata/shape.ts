import type * as z from 'zod/mini';
import { MAX_FINDINGS } from '../validation/findings.ts';
import {
  type CosiMetadata,
  cosiMetadataSchema,
  filesystemSchema,
  gptRegionSchema,
  osPackageSchema,
  systemdBootEntrySchema,
} from './schema.ts';

export interface ShapeIssue {
  path: Array<string | number>;
  message: string;
  missing: boolean;
}

export type ShapeResult =
  | { ok: true; data: CosiMetadata }
  | { ok: false; issues: ShapeIssue[]; unchecked: Array<{ path: Array<string | number>; count: number }> };

type Json = Record<string, unknown>;

/** The metadata arrays that can be long: where they are, and the schema of one element. */
const ARRAYS: Array<{ path: string[]; element: z.ZodMiniType }> = [
  { path: ['images'], element: filesystemSchema },
  { path: ['osPackages'], element: osPackageSchema },
  { path: ['disk', 'gptRegions'], element: gptRegionSchema },
  { path: ['bootloader', 'systemdBoot', 'entries'], element: systemdBootEntrySchema },
];

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks the COSI shape (zod) without letting a hostile document cost memory in proportion to its
 * mistakes: zod reports every failing element of an array, and a million of them take seconds and
 * gigabytes. The long arrays are taken out, the rest is checked in one go, then each array is
 * checked element by element, stopping once MAX_FINDINGS issues are collected (`unchecked` says
 * how many elements of which array were not looked at).
 */
export function parseShape(json: Json): ShapeResult {
  const top: Json = { ...json };
  const lifted: Array<{ path: string[]; items: unknown[]; element: z.ZodMiniType }> = [];
  for (const { path, element } of ARRAYS) {
    // Copy every object on the way so the caller's value is left as it was.
    let parent: Json = top;
    let reachable = true;
    for (const key of path.slice(0, -1)) {
      const next = parent[key];
      if (!isObject(next)) {
        reachable = false;
        break;
      }
      parent[key] = { ...next };
      parent = parent[key] as Json;
    }
    const last = path.at(-1)!;
    const items = parent[last];
    if (!reachable || !Array.isArray(items)) continue;
    parent[last] = [];
    lifted.push({ path, items, element });
  }
  const issues: ShapeIssue[] = [];
  const collect = (error: z.core.$ZodError, prefix: Array<string | number>): void => {
    for (const issue of error.issues) {
      if (issues.length >= MAX_FINDINGS) return;
      issues.push({
        path: [
          ...prefix,
          ...issue.path.map((segment) => (typeof segment === 'number' ? segment : String(segment))),
        ],
        message: issue.message,
        missing: issue.code === 'invalid_type' && issue.message.includes('received undefined'),
      });
    }
  };
  const parsedTop = cosiMetadataSchema.safeParse(top);
  if (!parsedTop.success) collect(parsedTop.error, []);
  const unchecked: Array<{ path: Array<string | number>; count: number }> = [];
  const parsedArrays: unknown[][] = [];
  for (const { path, items, element } of lifted) {
    const out: unknown[] = [];
    for (const [index, item] of items.entries()) {
      if (issues.length >= MAX_FINDINGS) {
        unchecked.push({ path, count: items.length - index });
        break;
      }
      const result = element.safeParse(item);
      if (result.success) out.push(result.data);
      else collect(result.error, [...path, index]);
    }
    parsedArrays.push(out);
  }
  if (!parsedTop.success || issues.length > 0 || unchecked.length > 0)
    return { ok: false, issues, unchecked };
  // Put the checked elements back into the checked document.
  const data = parsedTop.data as Json;
  lifted.forEach(({ path }, n) => {
    let parent = data;
    for (const key of path.slice(0, -1)) parent = parent[key] as Json;
    parent[path.at(-1)!] = parsedArrays[n];
  });
  return { ok: true, data: data as CosiMetadata };
}
