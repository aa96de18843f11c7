/**
 * The Host Status document: what Trident stores, one YAML document per datastore row
 * (reference servicing.md §6; upstream `trident_api::status::HostStatus`). Field names, order,
 * omission of empty fields and the kebab-case state names are upstream's, so each side reads the
 * other's rows. The Host Configurations (`spec`, `specOld`) are kept as documents: the datastore
 * records them, `@trident/host-config` is the one place that interprets them.
 */
import { Pair, parseDocument, Scalar, stringify, visit, YAMLMap } from 'yaml';
import { DatastoreError } from './errors.ts';
import { upgradeHostStatus } from './upgrade.ts';

/** Trident's servicing states (`ServicingState`, kebab-case), in upstream's declaration order. */
export const SERVICING_STATES = [
  'not-provisioned',
  'clean-install-staged',
  'ab-update-staged',
  'manual-rollback-ab-staged',
  'manual-rollback-runtime-staged',
  'runtime-update-staged',
  'clean-install-finalized',
  'ab-update-finalized',
  'manual-rollback-ab-finalized',
  'provisioned',
  'ab-update-health-check-failed',
] as const;
export type ServicingState = (typeof SERVICING_STATES)[number];

export const AB_VOLUMES = ['volume-a', 'volume-b'] as const;
export type AbVolume = (typeof AB_VOLUMES)[number];

/** A Host Configuration as a plain document (what `@trident/host-config` parses from YAML). */
export type HostConfigurationDocument = Record<string, unknown>;

/**
 * Trident's recorded error (its `TridentError` serialised): `message` = the one-line text,
 * `error` = the subkind (a string, or `{subkind: {fields}}` for variants with data), `category` =
 * kebab-case kind, `location` = where it was raised, `cause` = the underlying chain or null.
 * Fields other writers add are kept.
 */
export interface LastError {
  message: string;
  error: unknown;
  category: string;
  location?: string | undefined;
  cause?: string | null | undefined;
  [field: string]: unknown;
}

export interface HostStatus {
  /** The Host Configuration being (or last) serviced; `{}` when none. */
  spec: HostConfigurationDocument;
  /** During an update or rollback, the configuration the host ran before it. */
  specOld?: HostConfigurationDocument | undefined;
  servicingState: ServicingState;
  lastError?: LastError | undefined;
  /** Block-device id (Host Configuration) → device path, as provisioned. */
  partitionPaths?: Record<string, string> | undefined;
  /** Which A/B volume the host runs from; absent before the first commit or without A/B. */
  abActiveVolume?: AbVolume | undefined;
  /** Disk id → disk GUID. */
  diskUuids?: Record<string, string> | undefined;
  /** Which install of the OS on this host (upstream counts from 0). */
  installIndex: number;
  /** True while the status lives on the installer (management) OS, not yet on the target. */
  isManagementOs?: boolean | undefined;
  /** Version of the agent that wrote the row (stamped on every write). */
  tridentVersion?: string | undefined;
}

/** The Host Status of a host nothing was installed on yet (upstream's default). */
export function notProvisioned(): HostStatus {
  return { spec: {}, servicingState: 'not-provisioned', installIndex: 0 };
}

export function isServicingState(value: unknown): value is ServicingState {
  return typeof value === 'string' && (SERVICING_STATES as readonly string[]).includes(value);
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isEmpty = (value: Record<string, unknown> | undefined): boolean =>
  value === undefined || Object.keys(value).length === 0;

/** Where a document came from, for error messages. */
export interface SourceRef {
  path?: string | undefined;
  rowId?: number | undefined;
}

function where(ref: SourceRef): string {
  if (ref.rowId !== undefined) return `row ${ref.rowId} of ${ref.path ?? 'the datastore'}`;
  return ref.path ?? 'the Host Status';
}

function fail(ref: SourceRef, code: 'DATASTORE_INVALID_ROW' | 'DATASTORE_INVALID_HOST_STATUS', what: string) {
  return new DatastoreError(code, `${where(ref)}: ${what}`, { path: ref.path, rowId: ref.rowId });
}

function stringMap(
  value: unknown,
  field: string,
  ref: SourceRef,
  code: 'DATASTORE_INVALID_ROW' | 'DATASTORE_INVALID_HOST_STATUS',
): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw fail(ref, code, `${field} must be a mapping of id to string`);
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') throw fail(ref, code, `${field}.${key} must be a string`);
    out[key] = item;
  }
  return out;
}

/**
 * Checks a Host Status object (from a row, or from a caller about to write it) and returns it in
 * canonical form: empty optional fields dropped, versions as strings.
 */
export function checkHostStatus(
  value: unknown,
  ref: SourceRef = {},
  code: 'DATASTORE_INVALID_ROW' | 'DATASTORE_INVALID_HOST_STATUS' = 'DATASTORE_INVALID_HOST_STATUS',
): HostStatus {
  if (!isRecord(value)) throw fail(ref, code, 'the Host Status is not a mapping');
  const { spec, specOld, servicingState, lastError, installIndex, abActiveVolume } = value;
  // upstream's `spec` has no serde default, but a missing one can only mean an empty configuration
  if (spec !== undefined && spec !== null && !isRecord(spec))
    throw fail(ref, code, 'spec must be a Host Configuration mapping');
  if (specOld !== undefined && specOld !== null && !isRecord(specOld))
    throw fail(ref, code, 'specOld must be a Host Configuration mapping');
  if (!isServicingState(servicingState))
    throw fail(
      ref,
      code,
      `servicingState ${JSON.stringify(servicingState)} is not one of ${SERVICING_STATES.join(', ')}`,
    );
  if (lastError !== undefined && lastError !== null && !isRecord(lastError))
    throw fail(ref, code, 'lastError must be a mapping (message, error, category, location, cause)');
  const index = installIndex ?? 0;
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0)
    throw fail(ref, code, `installIndex ${JSON.stringify(installIndex)} is not a non-negative integer`);
  if (
    abActiveVolume !== undefined &&
    abActiveVolume !== null &&
    !AB_VOLUMES.includes(abActiveVolume as AbVolume)
  )
    throw fail(ref, code, `abActiveVolume ${JSON.stringify(abActiveVolume)} is not volume-a or volume-b`);
  if (value['isManagementOs'] !== undefined && typeof value['isManagementOs'] !== 'boolean')
    throw fail(ref, code, 'isManagementOs must be true or false');
  const version = value['tridentVersion'];
  if (version !== undefined && version !== null && typeof version !== 'string' && typeof version !== 'number')
    throw fail(ref, code, 'tridentVersion must be a version string');

  const status: HostStatus = {
    spec: isRecord(spec) ? spec : {},
    servicingState,
    installIndex: index,
  };
  if (isRecord(specOld) && !isEmpty(specOld)) status.specOld = specOld;
  if (isRecord(lastError)) status.lastError = lastError as LastError;
  const partitionPaths = stringMap(value['partitionPaths'], 'partitionPaths', ref, code);
  if (!isEmpty(partitionPaths)) status.partitionPaths = partitionPaths;
  if (abActiveVolume === 'volume-a' || abActiveVolume === 'volume-b') status.abActiveVolume = abActiveVolume;
  const diskUuids = stringMap(value['diskUuids'], 'diskUuids', ref, code);
  if (!isEmpty(diskUuids)) status.diskUuids = diskUuids;
  if (value['isManagementOs'] === true) status.isManagementOs = true;
  if (version !== undefined && version !== null) status.tridentVersion = String(version);
  return status;
}

/**
 * Parses one row's `contents`, upgrading documents older Trident versions wrote. serde_yaml writes
 * an enum variant that carries data as a local tag (`error: !datastore {inner: …}` in `lastError`);
 * such a node is read as `{datastore: {inner: …}}`, the same information without the tag.
 */
export function parseHostStatus(text: string, ref: SourceRef = {}): HostStatus {
  let document: unknown;
  try {
    // Rows are small; aliases are not something Trident writes, so a row full of them is refused.
    const doc = parseDocument(text, { uniqueKeys: true, logLevel: 'silent' });
    const [first] = doc.errors;
    if (first) throw first;
    visit(doc, {
      Node(_key, node) {
        const tag = (node as { tag?: string }).tag;
        if (tag === undefined || !tag.startsWith('!') || tag.startsWith('!!')) return undefined;
        delete (node as { tag?: string }).tag;
        const wrapper = new YAMLMap();
        wrapper.add(new Pair(new Scalar(tag.slice(1)), node));
        return wrapper;
      },
    });
    document = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new DatastoreError(
      'DATASTORE_INVALID_ROW',
      `${where(ref)}: not YAML: ${(error as Error).message}`,
      {
        path: ref.path,
        rowId: ref.rowId,
        cause: error,
      },
    );
  }
  return checkHostStatus(upgradeHostStatus(document), ref, 'DATASTORE_INVALID_ROW');
}

/** YAML as serde_yaml writes it: block style, no anchors, no folding of long strings. */
export function toYaml(value: unknown): string {
  return stringify(value, { aliasDuplicateObjects: false, lineWidth: 0, minContentWidth: 0 });
}

/**
 * The Host Status in upstream's field order with empty fields omitted, as a plain object (also
 * what `trident get --format json` prints).
 */
export function hostStatusDocument(status: HostStatus): Record<string, unknown> {
  const out: Record<string, unknown> = { spec: status.spec };
  if (!isEmpty(status.specOld)) out['specOld'] = status.specOld;
  out['servicingState'] = status.servicingState;
  if (status.lastError !== undefined) out['lastError'] = status.lastError;
  if (!isEmpty(status.partitionPaths)) out['partitionPaths'] = status.partitionPaths;
  if (status.abActiveVolume !== undefined) out['abActiveVolume'] = status.abActiveVolume;
  if (!isEmpty(status.diskUuids)) out['diskUuids'] = status.diskUuids;
  out['installIndex'] = status.installIndex;
  if (status.isManagementOs === true) out['isManagementOs'] = true;
  if (status.tridentVersion !== undefined) out['tridentVersion'] = status.tridentVersion;
  return out;
}

export function serializeHostStatus(status: HostStatus): string {
  return toYaml(hostStatusDocument(status));
}
