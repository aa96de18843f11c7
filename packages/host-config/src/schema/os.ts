/** zod schemas for `os` and `managementOs` (reference §1.3). */
import * as z from 'zod';
import { defList, dict, int32, list, oneOf, opt, sha384, str, struct, url } from '../scalars.ts';
import { toPlain } from '../yaml-source.ts';

/** A free-form value (netplan device settings, module options): plain JSON-like data. */
export const freeForm = () => z.preprocess(toPlain, z.unknown());

/**
 * Netplan v2. The top level is closed so typos are caught; the device sections are passed through as
 * netplan defines many keys per device kind.
 */
export const NetplanSchema = struct({
  version: freeForm(),
  renderer: opt(str()),
  ethernets: opt(dict(freeForm())),
  wifis: opt(dict(freeForm())),
  bonds: opt(dict(freeForm())),
  bridges: opt(dict(freeForm())),
  vlans: opt(dict(freeForm())),
  tunnels: opt(dict(freeForm())),
  vrfs: opt(dict(freeForm())),
  modems: opt(dict(freeForm())),
  'dummy-devices': opt(dict(freeForm())),
  'virtual-ethernets': opt(dict(freeForm())),
  'nm-devices': opt(dict(freeForm())),
});

export const UserSchema = struct({
  name: str(),
  password: struct({ type: oneOf(['locked']) }).prefault({ type: 'locked' }),
  uid: opt(int32()),
  primaryGroup: opt(str()),
  secondaryGroups: defList(str()),
  sshPublicKeys: defList(str()),
  sshMode: oneOf(['block', 'key-only']).default('block'),
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
  loadMode: oneOf(['always', 'auto', 'disable', 'inherit']).default('inherit'),
  options: opt(dict(str())),
});

export const ExtensionSchema = struct({ url: url(), sha384: sha384(false), path: opt(str()) });

export const OsSchema = struct({
  netplan: opt(NetplanSchema),
  selinux: struct({ mode: opt(oneOf(['disabled', 'permissive', 'enforcing'])) }).prefault({}),
  users: defList(UserSchema),
  additionalFiles: defList(AdditionalFileSchema),
  hostname: opt(str()),
  modules: defList(ModuleSchema),
  services: struct({ enable: defList(str()), disable: defList(str()) }).prefault({}),
  kernelCommandLine: opt(struct({ extraCommandLine: list(str()) })),
  sysexts: defList(ExtensionSchema),
  confexts: defList(ExtensionSchema),
  uefiFallback: oneOf(['conservative', 'optimistic', 'disabled']).default('conservative'),
});

export const ManagementOsSchema = struct({
  netplan: opt(NetplanSchema),
  users: defList(UserSchema),
});
