/**
 * `os.users` in the new root, as upstream's osmodifier does it (`crates/osmodifier/src/users.rs`,
 * `subsystems/osconfig/users.rs`), with the new OS's own tools run in the chroot: `id`, `useradd`,
 * `usermod`, `chown`.
 *
 * - sshd: with `/etc/ssh/sshd_config`, an `Include` of `sshd_config.d/global_user.conf` is put at
 *   its top (once) and that file says `PermitRootLogin` (only when root is listed) and `DenyUsers`
 *   (every user with `sshMode: block`). Without sshd, a user that may log in by SSH is an error.
 * - A new user: `useradd -m [-u] [-d] [-g]`; an existing one (per `id -u`) cannot change uid or
 *   home, and `primaryGroup` goes through `usermod -g`. Secondary groups: `usermod -a -G`.
 * - `password: locked` (the only mode upstream allows without its dangerous-options build) puts `*`
 *   in the shadow password field: no password login, key login still works.
 * - Keys: `<home>/.ssh` (0700) and `authorized_keys` (0600) owned by the user; an existing user's
 *   keys are kept and the new ones appended.
 * - `startupCommand` replaces the login shell field of `/etc/passwd`.
 */
import { chmod, mkdir } from 'node:fs/promises';
import { isExecError } from '@trident/exec';
import { OsConfigError, reason } from './errors.ts';
import { existsInRoot, readFileInRoot, resolveInRoot, writeFileInRoot } from './root-files.ts';
import { done, type StepContext, type StepOutcome, skipped } from './step.ts';
import type { Config } from './types.ts';

type User = Config['os']['users'][number];

export const SSHD_CONFIG = '/etc/ssh/sshd_config';
export const SSHD_GLOBAL_USER_CONF = '/etc/ssh/sshd_config.d/global_user.conf';
const INCLUDE_LINE = `Include ${SSHD_GLOBAL_USER_CONF}`;

export async function setUpUsers(ctx: StepContext): Promise<StepOutcome> {
  const users = ctx.config.os.users;
  if (users.length === 0) return skipped('no os.users');
  await wrap('sshd configuration', () => configureSshd(ctx, users));
  for (const user of users) await wrap(`user '${user.name}'`, () => addOrUpdateUser(ctx, user));
  return done(`configured ${users.length} user(s): ${users.map((u) => u.name).join(', ')}`);
}

async function wrap(what: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    if (error instanceof OsConfigError) throw error;
    throw new OsConfigError('OS_CONFIG_USERS', `cannot set up ${what}: ${reason(error)}`, { cause: error });
  }
}

async function configureSshd(ctx: StepContext, users: readonly User[]): Promise<void> {
  const config = await readFileInRoot(ctx.root, SSHD_CONFIG);
  if (config === undefined) {
    const withSsh = users.filter((u) => u.sshMode !== 'block').map((u) => u.name);
    if (withSsh.length > 0)
      throw new OsConfigError(
        'OS_CONFIG_USERS',
        `the new OS has no ${SSHD_CONFIG} (is openssh-server installed?), yet os.users lets ${withSsh.join(', ')} log in by SSH (sshMode: key-only)`,
      );
    const withKeys = users.filter((u) => u.sshPublicKeys.length > 0).map((u) => u.name);
    if (withKeys.length > 0)
      ctx.log('warn', 'users', `no ${SSHD_CONFIG} in the new OS, yet ${withKeys.join(', ')} have SSH keys`);
    ctx.log('warn', 'users', `no ${SSHD_CONFIG} in the new OS: sshd is not configured`);
    return;
  }
  // Upstream's check only looks at the very start of the file, so a second run prepends again; the
  // intent (one Include) is what is kept here.
  if (!config.split('\n').some((line) => line.replace(/^ */u, '').startsWith(INCLUDE_LINE)))
    await writeFileInRoot(
      ctx.root,
      SSHD_CONFIG,
      `# Trident Configuration Overrides\n${INCLUDE_LINE}\n\n${config}`,
      0o644,
      { keepExisting: true },
    );
  await writeFileInRoot(ctx.root, SSHD_GLOBAL_USER_CONF, renderSshdGlobalConfig(users), 0o644);
}

export function renderSshdGlobalConfig(users: readonly User[]): string {
  const lines: string[] = [];
  const root = users.find((u) => u.name === 'root');
  if (root) lines.push(`PermitRootLogin ${root.sshMode === 'block' ? 'no' : 'prohibit-password'}`);
  const denied = users.filter((u) => u.sshMode === 'block').map((u) => u.name);
  if (denied.length > 0) lines.push(`DenyUsers ${denied.join(' ')}`);
  lines.push('\n');
  return lines.join('\n');
}

async function addOrUpdateUser(ctx: StepContext, user: User): Promise<void> {
  const exists = await userExists(ctx, user.name);
  if (exists) {
    if (user.uid !== undefined)
      throw new OsConfigError(
        'OS_CONFIG_USERS',
        `user '${user.name}' already exists in the new OS: its uid cannot be changed; remove os.users[].uid`,
      );
    if (user.homeDirectory !== undefined)
      throw new OsConfigError(
        'OS_CONFIG_USERS',
        `user '${user.name}' already exists in the new OS: its home directory cannot be changed; remove os.users[].homeDirectory`,
      );
  } else {
    const args = ['-m'];
    if (user.uid !== undefined) args.push('-u', String(user.uid));
    if (user.homeDirectory !== undefined) args.push('-d', user.homeDirectory);
    if (user.primaryGroup !== undefined) args.push('-g', user.primaryGroup);
    await ctx.inRoot('useradd', [...args, user.name]);
  }
  // `locked` is the only password mode; `*` rather than `!` keeps SSH key login working where sshd
  // runs without PAM (upstream's reason).
  await setShadowPassword(ctx, user.name, '*');
  if (exists && user.primaryGroup !== undefined)
    await ctx.inRoot('usermod', ['-g', user.primaryGroup, user.name]);
  if (user.secondaryGroups.length > 0)
    await ctx.inRoot('usermod', ['-a', '-G', user.secondaryGroups.join(','), user.name]);
  if (user.sshPublicKeys.length > 0) await writeAuthorizedKeys(ctx, user, exists);
  if (user.startupCommand !== undefined) await setLoginShell(ctx, user.name, user.startupCommand);
}

async function userExists(ctx: StepContext, name: string): Promise<boolean> {
  const result = await ctx.inRoot('id', ['-u', name], { okCodes: 'any' });
  if (result.exitCode === 0) return true;
  if (/no such user/iu.test(result.stderr)) return false;
  throw new OsConfigError(
    'OS_CONFIG_USERS',
    `cannot tell whether user '${name}' exists in the new OS: 'id -u ${name}' exited with ${result.exitCode}: ${result.stderr.trim()}`,
  );
}

/** Rewrites one colon-separated field of `name`'s line in a passwd-style file of the new root. */
async function setField(
  ctx: StepContext,
  file: string,
  name: string,
  field: number,
  value: string,
): Promise<void> {
  if (/[:\n\r]/u.test(value))
    throw new OsConfigError(
      'OS_CONFIG_USERS',
      `value for user '${name}' in ${file} contains ':' or a newline`,
    );
  const text = await readFileInRoot(ctx.root, file);
  if (text === undefined) throw new OsConfigError('OS_CONFIG_USERS', `the new OS has no ${file}`);
  let found = false;
  const lines = text.split('\n').map((line) => {
    const fields = line.split(':');
    if (fields[0] !== name || fields.length <= field) return line;
    found = true;
    fields[field] = value;
    return fields.join(':');
  });
  if (!found) throw new OsConfigError('OS_CONFIG_USERS', `user '${name}' is not in ${file} of the new OS`);
  await writeFileInRoot(ctx.root, file, lines.join('\n'), 0o600, { keepExisting: true });
}

const setShadowPassword = (ctx: StepContext, name: string, hash: string) =>
  setField(ctx, '/etc/shadow', name, 1, hash);
const setLoginShell = (ctx: StepContext, name: string, shell: string) =>
  setField(ctx, '/etc/passwd', name, 6, shell);

async function homeOf(ctx: StepContext, name: string): Promise<string> {
  const passwd = (await readFileInRoot(ctx.root, '/etc/passwd')) ?? '';
  for (const line of passwd.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields.length >= 6 && fields[5]) return fields[5];
  }
  throw new OsConfigError(
    'OS_CONFIG_USERS',
    `no home directory for user '${name}' in /etc/passwd of the new OS`,
  );
}

async function writeAuthorizedKeys(ctx: StepContext, user: User, keepExisting: boolean): Promise<void> {
  const home = await homeOf(ctx, user.name);
  const sshDir = `${home.replace(/\/+$/u, '')}/.ssh`;
  const keysFile = `${sshDir}/authorized_keys`;
  const hostDir = await resolveInRoot(ctx.root, sshDir);
  await mkdir(hostDir, { recursive: true });
  await chmod(hostDir, 0o700);
  const keys: string[] = [];
  if (keepExisting && (await existsInRoot(ctx.root, keysFile)))
    keys.push(...((await readFileInRoot(ctx.root, keysFile)) ?? '').split('\n').filter((l) => l !== ''));
  keys.push(...user.sshPublicKeys);
  await writeFileInRoot(ctx.root, keysFile, `${keys.join('\n')}\n`, 0o600);
  // `user:` sets the user's login group, whatever it is called.
  try {
    await ctx.inRoot('chown', [`${user.name}:`, sshDir]);
    await ctx.inRoot('chown', [`${user.name}:`, keysFile]);
  } catch (error) {
    if (isExecError(error)) throw new OsConfigError('OS_CONFIG_USERS', reason(error), { cause: error });
    throw error;
  }
}
