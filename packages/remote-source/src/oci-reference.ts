import { isDigest } from './digest.ts';
import { RemoteSourceError } from './errors.ts';

/** A parsed image reference: `[registry[:port]/]repository[:tag][@digest]` (Docker grammar). */
export interface OciReference {
  /** Registry as written, `docker.io` when omitted. */
  registry: string;
  /** Host the API is served from (`registry-1.docker.io` for docker.io). */
  apiHost: string;
  repository: string;
  tag: string | undefined;
  digest: string | undefined;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/**
 * Parses `oci://` references with the Docker reference rules: the first path component is a
 * registry only if it contains `.` or `:` or is `localhost`; otherwise `docker.io`, where
 * one-component repositories get `library/`. No tag and no digest means `latest`.
 */
export function parseOciReference(input: string): OciReference {
  const fail = (why: string): never => {
    throw new RemoteSourceError(
      'REMOTE_OCI_REFERENCE',
      `invalid OCI reference '${input}': ${why}; expected oci://[registry[:port]/]repository[:tag][@sha256:<64 hex>]`,
      { url: input },
    );
  };
  let rest = input.startsWith('oci://') ? input.slice('oci://'.length) : input;
  if (rest === '') fail('it is empty');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) {
      fail(`digest '${digest}' is not sha256/sha384/sha512 followed by lowercase hex of the right length`);
    }
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) fail(`tag '${tag}' is not valid (letters, digits, '_', '.', '-'; at most 128)`);
  }
  const parts = rest.split('/');
  let registry = 'docker.io';
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    parts.shift();
  }
  if (!/^[a-zA-Z0-9.-]+(?::\d+)?$|^\[[0-9a-fA-F:]+\](?::\d+)?$/.test(registry))
    fail(`registry '${registry}' is not a host[:port]`);
  if (parts.length === 0 || parts.some((p) => !COMPONENT.test(p))) {
    fail(
      `repository '${parts.join('/')}' must be lowercase path components of letters, digits and separators`,
    );
  }
  if (registry === 'docker.io' && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (repository.length > 255) fail('repository name is longer than 255 characters');
  if (tag === undefined && digest === undefined) tag = 'latest';
  return {
    registry,
    apiHost: registry === 'docker.io' || registry === 'index.docker.io' ? 'registry-1.docker.io' : registry,
    repository,
    tag,
    digest,
  };
}

/** `registry/repository[:tag][@digest]`, the canonical printable form (without `oci://`). */
export function formatOciReference(ref: OciReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** Loopback registries are spoken to over plain HTTP by default (as Docker treats 127.0.0.0/8). */
export function isLoopbackRegistry(host: string): boolean {
  const name = host.replace(/:\d+$/, '');
  return name === 'localhost' || /^127\./.test(name) || name === '[::1]';
}
