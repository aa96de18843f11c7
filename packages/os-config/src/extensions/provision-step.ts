/**
 * The extensions subsystem's Provision for a new root (clean install, A/B update; reference
 * servicing.md §2, §10): stage every configured image into the new root's staging directory, move
 * each to its final path and drop the staging directory. The `services` step enables
 * systemd-sysext/systemd-confext, so the images merge when the new OS boots.
 */
import { done, type StepContext, type StepOutcome, skipped } from '../step.ts';
import type { OsConfigOptions } from '../types.ts';
import { cleanExtensionStaging, placeExtensions } from './place.ts';
import { stageExtensions } from './stage.ts';

export async function provisionExtensions(ctx: StepContext, options: OsConfigOptions): Promise<StepOutcome> {
  const { sysexts, confexts } = ctx.config.os;
  if (sysexts.length + confexts.length === 0) return skipped('no os.sysexts or os.confexts');
  const staged = await stageExtensions(ctx.root, ctx.config.os, {
    // An A/B update copies images the running OS already has instead of downloading them again.
    reuseFrom: options.runningExtensions ? { root: '/', lists: options.runningExtensions } : undefined,
    source: options.extensionSource,
    signal: ctx.signal,
    log: (level, message) => ctx.log(level, 'extensions', message),
  });
  const placement = await placeExtensions(ctx.root, staged, undefined);
  await cleanExtensionStaging(ctx.root);
  options.onExtensionsPlaced?.(staged);
  return done(`placed ${placement.placed.join(', ')}`);
}
