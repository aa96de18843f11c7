import { digestProblem, isDigest } from './digest.ts';
import { RemoteSourceError } from './errors.ts';
import {
  type Descriptor,
  MEDIA_DOCKER_LIST,
  MEDIA_DOCKER_MANIFEST,
  MEDIA_OCI_INDEX,
  MEDIA_OCI_MANIFEST,
} from './media-types.ts';
import type { Platform } from './platform.ts';

/** An image manifest whose every field we use has the type the image-spec gives it. */
export interface CheckedManifest {
  kind: 'manifest';
  mediaType: string;
  artifactType: string | undefined;
  config: Descriptor;
  layers: Descriptor[];
}

/** An image index (or Docker manifest list) with checked entries. */
export interface CheckedIndex {
  kind: 'index';
  mediaType: string;
  manifests: Array<Descriptor & { platform?: Partial<Platform> }>;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 80))}`;
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value).slice(0, 40)}`;
}

/**
 * Checks a parsed manifest or index against the image-spec (the fields this package reads, and
 * their types) before anything in it is used: a wrong type or a missing field is
 * REMOTE_OCI_MANIFEST with the JSON path (`layers[0].digest`), never a TypeError; a digest that is
 * not `algorithm:hex` is refused before it can become part of a URL.
 */
export function checkOciDocument(
  json: unknown,
  mediaType: string,
  label: string,
  what: string,
): CheckedManifest | CheckedIndex {
  const fail = (path: string, problem: string): never => {
    throw new RemoteSourceError(
      'REMOTE_OCI_MANIFEST',
      `${label}: ${what} is malformed at ${path || 'the top level'}: ${problem}; the registry, or the tool that pushed it, is broken: push it again (trident cosi push, oras push)`,
      { url: label, path: path || '$' },
    );
  };
  if (!isObject(json)) return fail('', `expected a JSON object, found ${describe(json)}`);
  if (json.schemaVersion !== 2) fail('schemaVersion', `expected 2, found ${describe(json.schemaVersion)}`);
  if (json.mediaType !== undefined && typeof json.mediaType !== 'string')
    fail('mediaType', `expected a string, found ${describe(json.mediaType)}`);
  const string = (value: unknown, path: string, required: boolean): string | undefined => {
    if (value === undefined && !required) return undefined;
    if (typeof value !== 'string') return fail(path, `expected a string, found ${describe(value)}`);
    return value;
  };
  const descriptor = (value: unknown, path: string): Descriptor => {
    if (!isObject(value)) return fail(path, `expected a descriptor object, found ${describe(value)}`);
    const mediaType = string(value.mediaType, `${path}.mediaType`, true)!;
    if (!isDigest(value.digest)) fail(`${path}.digest`, digestProblem(value.digest));
    if (typeof value.size !== 'number' || !Number.isSafeInteger(value.size) || value.size < 0)
      fail(`${path}.size`, `expected a byte count (a non-negative integer), found ${describe(value.size)}`);
    const annotations = value.annotations;
    if (annotations !== undefined) {
      if (!isObject(annotations))
        fail(`${path}.annotations`, `expected an object, found ${describe(annotations)}`);
      for (const [key, text] of Object.entries(annotations as Json))
        string(text, `${path}.annotations[${JSON.stringify(key)}]`, true);
    }
    const artifactType = string(value.artifactType, `${path}.artifactType`, false);
    return {
      mediaType,
      digest: value.digest as string,
      size: value.size as number,
      ...(annotations === undefined ? {} : { annotations: annotations as Record<string, string> }),
      ...(artifactType === undefined ? {} : { artifactType }),
    };
  };
  const list = (value: unknown, path: string): unknown[] =>
    Array.isArray(value) ? value : fail(path, `expected an array, found ${describe(value)}`);

  if (mediaType === MEDIA_OCI_INDEX || mediaType === MEDIA_DOCKER_LIST) {
    const manifests = list(json.manifests, 'manifests').map((entry, i) => {
      const path = `manifests[${i}]`;
      const checked: CheckedIndex['manifests'][number] = descriptor(entry, path);
      const platform = (entry as Json).platform;
      if (platform !== undefined) {
        if (!isObject(platform)) fail(`${path}.platform`, `expected an object, found ${describe(platform)}`);
        const p = platform as Json;
        const os = string(p.os, `${path}.platform.os`, true)!;
        const architecture = string(p.architecture, `${path}.platform.architecture`, true)!;
        const variant = string(p.variant, `${path}.platform.variant`, false);
        checked.platform = { os, architecture, ...(variant === undefined ? {} : { variant }) };
      }
      return checked;
    });
    return { kind: 'index', mediaType, manifests };
  }
  if (mediaType === MEDIA_OCI_MANIFEST || mediaType === MEDIA_DOCKER_MANIFEST) {
    const config = descriptor(json.config, 'config');
    const layers = list(json.layers, 'layers').map((layer, i) => descriptor(layer, `layers[${i}]`));
    const artifactType = string(json.artifactType, 'artifactType', false);
    return { kind: 'manifest', mediaType, artifactType, config, layers };
  }
  return fail(
    'mediaType',
    `'${mediaType.slice(0, 100)}' is neither an image manifest nor an index (expected ${MEDIA_OCI_MANIFEST} or ${MEDIA_OCI_INDEX}, or their Docker v2 equivalents)`,
  );
}
