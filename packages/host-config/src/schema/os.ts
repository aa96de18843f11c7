/** zod schemas for `os` and `managementOs` (reference §1.3). */
import * as z from 'zod/mini';
import {
  defList,
  dict,
  int32,
  list,
  oneOf,
  opt,
  preprocess,
  sha384,
  str,
  struct,
  uint,
  url,
} from '../scalars.ts';
import { EMPTY, toPlain } from '../yaml-source.ts';

/** A free-form value (netplan device settings, module options): plain JSON-like data. */
export const freeForm = () => preprocess(toPlain, z.unknown());

/**
 * The netplan device sections Trident's netplan model (netplan-types 0.5) knows; their keys are
 * interface ids, checked by the netplan rules.
 */
export const NETPLAN_DEVICE_SECTIONS = [
  'ethernets',
  'wifis',
  'bonds',
  'bridges',
  'vlans',
  'tunnels',
  'vrfs',
  'dummy-devices',
] as const;

const NETPLAN_KEYS = new Set<string>(['version', 'renderer', ...NETPLAN_DEVICE_SECTIONS]);

/**
 * Netplan v2 as Trident reads it (netplan-types 0.5 `NetworkConfig`): `version` is a required u8,
 * `renderer` one of its three words, the device sections are maps of interface id to settings
 * (passed through: netplan defines many keys per device kind). Like Trident, other top-level keys
 * are accepted; a rule warns that Trident drops them.
 */
export const NetplanSchema = preprocess(
  (v) => {
    if (v === EMPTY) return {};
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    // Keys Trident ignores keep plain values (they are only reported).
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(v))
      Object.defineProperty(out, key, {
        value: NETPLAN_KEYS.has(key) ? value : toPlain(value),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    return out;
  },
  z.looseObject({
    version: uint(255),
    renderer: opt(oneOf(['networkd', 'NetworkManager', 'sriov'])),
    ethernets: opt(dict(freeForm())),
    wifis: opt(dict(freeForm())),
    bonds: opt(dict(freeForm())),
    bridges: opt(dict(freeForm())),
    vlans: opt(dict(freeForm())),
    tunnels: opt(dict(freeForm())),
    vrfs: opt(dict(freeForm())),
    'dummy-devices': opt(dict(freeForm())),
  }),
);

/** Whether a netplan top-level key is one Trident reads. */
export const isNetplanKey = (key: string): boolean => NETPLAN_KEYS.has(key);

export const UserSchema = struct({
  name: str(),
  password: z.prefault(struct({ type: oneOf(['locked']) }), { type: 'locked' }),
  uid: opt(int32()),
  primaryGroup: opt(str()),
  secondaryGroups: defList(str()),
  sshPublicKeys: defList(str()),
  sshMode: z._default(oneOf(['block', 'key-only']), 'block'),
  startupCommand: opt(str()),
  homeDirectory: opt(str()),
});

export const AdditionalFileSchema = struct({
  destination: str(),
  content: opt(str()),
  source: opt(str()),
  permissions: opt(str()),
});

export const ModuleSchema = struct({
  name: str(),
  loadMode: z._default(oneOf(['always', 'auto', 'disable', 'inherit']), 'inherit'),
  options: opt(dict(str())),
});

export const ExtensionSchema = struct({ url: url(), sha384: sha384(false), path: opt(str()) });

export const OsSchema = struct({
  netplan: opt(NetplanSchema),
  selinux: z.prefault(struct({ mode: opt(oneOf(['disabled', 'permissive', 'enforcing'])) }), {}),
  users: defList(UserSchema),
  additionalFiles: defList(AdditionalFileSchema),
  hostname: opt(str()),
  modules: defList(ModuleSchema),
  services: z.prefault(struct({ enable: defList(str()), disable: defList(str()) }), {}),
  kernelCommandLine: opt(struct({ extraCommandLine: list(str()) })),
  sysexts: defList(ExtensionSchema),
  confexts: defList(ExtensionSchema),
  uefiFallback: z._default(oneOf(['conservative', 'optimistic', 'disabled']), 'conservative'),
});

export const ManagementOsSchema = struct({
  netplan: opt(NetplanSchema),
  users: defList(UserSchema),
});
