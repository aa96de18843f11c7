/**
 * Semantic validation of a typed Host Configuration (reference §3). Unlike Trident, which stops at
 * the first error, every independent finding is reported; checks that depend on a broken part of the
 * storage graph are skipped so one mistake does not cascade.
 */
import type { Finding } from './errors.ts';
import {
  checkDatastore,
  checkExtensions,
  checkImage,
  checkOs,
  checkRootVerityExtras,
  checkScripts,
} from './rules/config-checks.ts';
import { createRuleContext, MAX_FINDINGS } from './rules/context.ts';
import { checkDeviceIds, checkDevices, checkFilesystems, checkUniqueValues } from './rules/graph-devices.ts';
import { checkReferences, checkReferrerTargets, checkSharing } from './rules/graph-references.ts';
import {
  checkEncryption,
  checkEspAndVarTmp,
  checkVerity,
  requireImageMount,
  storageIsDefault,
} from './rules/storage-checks.ts';
import { buildStorageGraph } from './rules/storage-model.ts';
import { type HostConfiguration, HostConfigurationSchema } from './schema/root.ts';
import type { SourceDocument } from './yaml-source.ts';

export interface SemanticOptions {
  /** Install and update need `image`; `trident validate` does not (default false). */
  requireImage?: boolean;
}

let defaults: HostConfiguration | undefined;
function defaultConfig(): HostConfiguration {
  defaults ??= HostConfigurationSchema.parse({});
  return defaults;
}

const differs = (a: unknown, b: unknown): boolean => JSON.stringify(a) !== JSON.stringify(b);

export function validateSemantics(
  config: HostConfiguration,
  source?: SourceDocument,
  options: SemanticOptions = {},
): Finding[] {
  const ctx = createRuleContext(config, source);
  if (options.requireImage === true && config.image === undefined) {
    ctx.report(
      'HC_IMAGE_MISSING',
      [],
      'An OS image must be provided: add `image: {url: <COSI URL>, sha384: <metadata hash>}`.',
    );
  }
  checkImage(ctx);
  checkEncryption(ctx);
  const graph = buildStorageGraph(config);
  checkDeviceIds(ctx, graph);
  checkDevices(ctx);
  checkUniqueValues(ctx);
  checkFilesystems(ctx, graph);
  const sound = checkReferences(ctx, graph);
  checkSharing(ctx, graph);
  checkReferrerTargets(ctx, graph, sound);

  const base = defaultConfig();
  const storageSet = !storageIsDefault(ctx);
  if (storageSet) checkEspAndVarTmp(ctx, graph);
  const rootNeeded =
    storageSet ||
    config.storage.verity.length > 0 ||
    differs(config.trident, base.trident) ||
    differs(config.scripts, base.scripts) ||
    differs(config.os, base.os);
  if (rootNeeded) requireImageMount(ctx, '/', 'every configured system needs a root filesystem');
  const rootVerity = checkVerity(ctx);
  checkOs(ctx);
  checkScripts(ctx);
  checkDatastore(ctx);
  checkRootVerityExtras(ctx, rootVerity);
  checkExtensions(ctx);
  return [...ctx.findings, ...truncationFindings(ctx.omitted)];
}

/** One finding saying how many were left out, so a capped list still says "invalid". */
export function truncationFindings(omitted: Record<'error' | 'warning' | 'info', number>): Finding[] {
  const total = omitted.error + omitted.warning + omitted.info;
  if (total === 0) return [];
  return [
    {
      code: 'HC_FINDINGS_TRUNCATED',
      severity: omitted.error > 0 ? 'error' : 'warning',
      path: '',
      line: 0,
      column: 0,
      message: `${omitted.error} more error(s), ${omitted.warning} warning(s) and ${omitted.info} note(s) are not listed: at most ${MAX_FINDINGS} of each are reported. Fix the ones above and validate again.`,
    },
  ];
}
