import { versionAtLeast } from '../metadata/schema.ts';
import { lookupImageMember } from '../tar/image-member.ts';
import { imageFileRefs, type ValidationContext } from './context.ts';
import type { FindingList, ValidationProfile } from './findings.ts';

/**
 * Rules between the metadata and the tar container. Missing or non-regular image members fail
 * both profiles (Trident fails when it deploys); the rest are spec MUSTs that Trident never checks,
 * so the `trident` profile reports them as warnings at most.
 */
export function checkContainerRules(
  context: ValidationContext,
  profile: ValidationProfile,
  findings: FindingList,
): void {
  const { tar, parsed } = context;
  if (!tar) return;
  const strict = profile === 'spec';
  const report = (code: string, path: string, message: string): void =>
    strict ? findings.error(code, path, message) : findings.warn(code, path, message);

  for (const ref of imageFileRefs(context.parsed)) {
    const lookup = lookupImageMember(tar.byPath, ref.file.path);
    if (!lookup.ok) {
      findings.error(
        lookup.reason === 'missing' ? 'COSI_IMAGE_MEMBER_MISSING' : 'COSI_IMAGE_MEMBER_NOT_FILE',
        `${ref.path}.path`,
        lookup.message,
      );
      continue;
    }
    const entry = lookup.entry;
    if (entry.size !== ref.file.compressedSize) {
      report(
        'COSI_COMPRESSED_SIZE_MISMATCH',
        `${ref.path}.compressedSize`,
        `compressedSize is ${ref.file.compressedSize} but the archive member "${entry.path}" holds ${entry.size} bytes`,
      );
    }
  }

  if (!strict) return;
  const [marker, metadata, third] = tar.entries;
  if (marker?.path !== 'cosi-marker') {
    findings.error(
      'COSI_MARKER_NOT_FIRST',
      'tar:cosi-marker',
      'the first archive member must be "cosi-marker"',
    );
  } else {
    if (marker.type !== 'file' || marker.size !== 0) {
      findings.error(
        'COSI_MARKER_NOT_EMPTY',
        'tar:cosi-marker',
        '"cosi-marker" must be an empty regular file',
      );
    }
    if (marker.extended || marker.headerOffset !== 0) {
      findings.error(
        'COSI_MARKER_NOT_AT_START',
        'tar:cosi-marker',
        '"cosi-marker" must be the very first header (no PAX/GNU header before it), so the file starts with its name',
      );
    }
  }
  if (metadata?.path !== 'metadata.json') {
    findings.error(
      'COSI_METADATA_NOT_SECOND',
      'tar:metadata.json',
      '"metadata.json" must be the second archive member',
    );
  }
  const regions = parsed.metadata.disk?.gptRegions ?? [];
  if (versionAtLeast(parsed.version, 1, 2) && regions[0] && third?.path !== regions[0].image.path) {
    findings.error(
      'COSI_GPT_NOT_THIRD',
      'tar:' + (regions[0].image.path ?? ''),
      `the primary-GPT image "${regions[0].image.path}" must be the third archive member (found "${third?.path ?? 'nothing'}")`,
    );
  }
  for (const entry of tar.entries) {
    if (entry.rawName.startsWith('./')) {
      findings.error(
        'COSI_MEMBER_NAME_DOT_SLASH',
        `tar:${entry.path}`,
        `member name "${entry.rawName}" must not start with "./"`,
      );
    }
  }
  if (tar.end !== 'double-zero') {
    findings.error(
      'COSI_TAR_END_MARKER',
      'tar:',
      tar.end === 'eof'
        ? 'the archive has no end-of-archive marker (two zero blocks)'
        : 'the archive ends with one zero block; the standard end-of-archive marker is two',
    );
  }
  // COSI 1.2: region images SHOULD follow in the physical order of the disk; check tar order matches regions.
  const memberIndex = new Map(tar.entries.map((entry, index) => [entry.path, index]));
  let previous = -1;
  for (const [i, region] of regions.entries()) {
    const index = memberIndex.get(region.image.path);
    if (index === undefined) continue;
    if (index < previous) {
      findings.warn(
        'COSI_MEMBER_ORDER',
        `disk.gptRegions[${i}]`,
        `image "${region.image.path}" comes earlier in the archive than the region before it`,
      );
    }
    previous = index;
  }
}
