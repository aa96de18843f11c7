import { describe, expect, it } from 'vitest';
import { isRemoteSourceError } from './errors.ts';
import { formatOciReference, parseOciReference } from './oci-reference.ts';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseOciReference (Docker reference grammar)', () => {
  it.each([
    ['oci://ubuntu', 'docker.io', 'registry-1.docker.io', 'library/ubuntu', 'latest', undefined],
    ['oci://acme/cosi:1.0', 'docker.io', 'registry-1.docker.io', 'acme/cosi', '1.0', undefined],
    ['oci://localhost/cosi', 'localhost', 'localhost', 'cosi', 'latest', undefined],
    ['oci://localhost:5000/a/b/c:v2', 'localhost:5000', 'localhost:5000', 'a/b/c', 'v2', undefined],
    [
      'oci://myacr.azurecr.io/img/os:3.0.1',
      'myacr.azurecr.io',
      'myacr.azurecr.io',
      'img/os',
      '3.0.1',
      undefined,
    ],
    [`oci://127.0.0.1:5000/cosi@${D}`, '127.0.0.1:5000', '127.0.0.1:5000', 'cosi', undefined, D],
    [`oci://reg.io/cosi:v1@${D}`, 'reg.io', 'reg.io', 'cosi', 'v1', D],
  ])('%s', (input, registry, apiHost, repository, tag, digest) => {
    expect(parseOciReference(input)).toEqual({ registry, apiHost, repository, tag, digest });
  });

  it.each([
    'oci://',
    'oci://Reg.io/UPPER:tag',
    'oci://reg.io/cosi@sha256:abc',
    'oci://reg.io/cosi@md5:' + 'a'.repeat(32),
    'oci://reg.io/cosi:bad tag',
    'oci://reg.io/-leading',
  ])('rejects %s with REMOTE_OCI_REFERENCE', (input) => {
    let error: unknown;
    try {
      parseOciReference(input);
    } catch (err) {
      error = err;
    }
    expect(isRemoteSourceError(error, 'REMOTE_OCI_REFERENCE')).toBe(true);
    expect((error as Error).message).toContain(input);
  });

  it('formats back', () => {
    expect(formatOciReference(parseOciReference(`oci://reg.io:443/x/y:t@${D}`))).toBe(
      `reg.io:443/x/y:t@${D}`,
    );
  });
});
