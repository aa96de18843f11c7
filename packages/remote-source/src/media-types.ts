/** OCI image-spec v1.1 and Docker distribution media types this package reads and writes. */
export const MEDIA_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MEDIA_DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const MEDIA_DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
/** The empty config blob `{}` recommended for artifacts (image-spec v1.1 "Guidelines for Artifact Usage"). */
export const MEDIA_OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
/** Layer media type of a pushed COSI: it is a plain (uncompressed) tar, and `oras push` uses the same type. */
export const MEDIA_COSI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
/** `artifactType` of a COSI pushed by `pushOci` / `trident cosi push`. */
export const ARTIFACT_TYPE_COSI = 'application/vnd.microsoft.trident.cosi.v1';
/** Layer annotation carrying the file name (what `oras pull` restores). */
export const ANNOTATION_TITLE = 'org.opencontainers.image.title';

export const MANIFEST_ACCEPT = [
  MEDIA_OCI_MANIFEST,
  MEDIA_OCI_INDEX,
  MEDIA_DOCKER_MANIFEST,
  MEDIA_DOCKER_LIST,
];

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}
