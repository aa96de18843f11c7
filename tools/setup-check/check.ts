/**
 * Proves tools/setup.sh is complete: every external tool the repository's scripts, code and tests
 * run, and every package a file needs (the well-known protos, the venv module), must be
 * installed by setup (or be Essential on Debian, or come from a named setup step). Reads the
 * packages setup installs from its APT_PACKAGES array, the only list of them.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { codeCommands } from './code-commands.ts';
import { type Provider, REQUIREMENTS, TOOLS } from './providers.ts';
import { shellCommands } from './shell-commands.ts';

export interface CheckOptions {
  /** Repository root. */
  root: string;
  /** Setup script, absolute or relative to root (default tools/setup.sh). */
  setupScript?: string;
  /** Files to scan, relative to root (default: git's tracked and unignored new files). */
  files?: string[];
  /** dpkg's database, to check the tool table against the machine; null skips that. */
  dpkgDir?: string | null;
}

export interface ToolUse {
  tool: string;
  provider: Provider | undefined;
  /** `file:line` of every use. */
  where: string[];
  /** Every use only probes for the tool (`has('x')`): it may be absent. */
  probeOnly: boolean;
}

export interface CheckResult {
  aptPackages: string[];
  uses: ToolUse[];
  /** What must be fixed; empty when setup is complete. */
  problems: string[];
}

/**
 * APT_PACKAGES of a setup script: every `*PACKAGES=(...)` / `+=(...)` block (so a group kept in its
 * own array and appended, `APT_PACKAGES+=("${VM_PACKAGES[@]}")`, counts), evaluated by bash.
 */
export function readAptPackages(setupText: string): string[] {
  const blocks: string[] = [];
  const lines = setupText.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*[A-Z_]*PACKAGES\+?=\(/.test(lines[i]!)) continue;
    const block = [lines[i]!];
    while (!/\)\s*(#.*)?$/.test(block.at(-1)!.replace(/#.*$/, '')) && i + 1 < lines.length)
      block.push(lines[++i]!);
    blocks.push(block.join('\n'));
  }
  if (blocks.length === 0) return [];
  const script = `set -eu\n${blocks.join('\n')}\nprintf '%s\\n' "\${APT_PACKAGES[@]}"`;
  return execFileSync('bash', ['-c', script], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

function repositoryFiles(root: string): string[] {
  return execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
    .split('\n')
    .filter(Boolean);
}

/**
 * Files that run somewhere else: inside the fixture OS (its packages come from the fixture's own
 * package list) or on a host that installs our .deb (its Depends say what it needs).
 */
const RUNS_ELSEWHERE = /^(tools\/fixtures\/guest\/|packaging\/deb\/)/;

/** Generated code, dependencies and this check itself (its tests name tools on purpose). */
function scanned(file: string): boolean {
  return (
    !/(^|\/)(node_modules|dist|target|src\/gen|\.venv)\//.test(file) &&
    !file.startsWith('tools/setup-check/') &&
    !RUNS_ELSEWHERE.test(file)
  );
}

function isShellScript(file: string, text: string): boolean {
  return /\.(sh|bash)$/.test(file) || file === '.ci/run' || /^#!.*\b(ba)?sh\b/.test(text.slice(0, 80));
}

/** Commands run by package.json scripts, without the package's own bin tools (node_modules/.bin). */
function packageScriptCommands(root: string, file: string, text: string) {
  const dir = file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '.';
  const bins = new Set<string>();
  for (const base of [join(root, 'node_modules/.bin'), join(root, dir, 'node_modules/.bin')])
    if (existsSync(base)) for (const name of readdirSync(base)) bins.add(name);
  let scripts: Record<string, string> = {};
  try {
    scripts = (JSON.parse(text) as { scripts?: Record<string, string> }).scripts ?? {};
  } catch {
    return [];
  }
  // Scripts of this repository run by path (`exec apps/cli/bin/trident.js`) are not external tools.
  const local = new Set<string>();
  for (const script of Object.values(scripts))
    for (const [path] of script.matchAll(/[\w.-]*\/[\w./-]+/g))
      if (existsSync(join(root, dir, path))) local.add(path.slice(path.lastIndexOf('/') + 1));
  return Object.values(scripts)
    .flatMap((script) => shellCommands(script))
    .filter((c) => !bins.has(c.command) && !local.has(c.command) && c.command !== 'node');
}

/** basename → owning packages, from dpkg's file lists (fast; `dpkg -S` takes minutes). */
function dpkgOwners(dpkgDir: string): Map<string, Set<string>> {
  const owners = new Map<string, Set<string>>();
  const info = join(dpkgDir, 'info');
  if (!existsSync(info)) return owners;
  for (const name of readdirSync(info)) {
    if (!name.endsWith('.list')) continue;
    const pkg = name.slice(0, -'.list'.length).replace(/:.*$/, '');
    for (const path of readFileSync(join(info, name), 'utf8').split('\n')) {
      const m = /^\/(?:usr\/)?s?bin\/([^/]+)$/.exec(path);
      if (m === null) continue;
      const set = owners.get(m[1]!) ?? new Set<string>();
      set.add(pkg);
      owners.set(m[1]!, set);
    }
  }
  return owners;
}

/** Installed packages marked `Essential: yes` in dpkg's status file. */
function dpkgEssential(dpkgDir: string): Set<string> {
  const essential = new Set<string>();
  const status = join(dpkgDir, 'status');
  if (!existsSync(status)) return essential;
  for (const stanza of readFileSync(status, 'utf8').split('\n\n')) {
    const pkg = /^Package: (\S+)/m.exec(stanza)?.[1];
    if (pkg !== undefined && /^Essential: yes$/m.test(stanza)) essential.add(pkg);
  }
  return essential;
}

export function checkSetup(options: CheckOptions): CheckResult {
  const { root } = options;
  const setupPath = options.setupScript ?? 'tools/setup.sh';
  const setupText = readFileSync(isAbsolute(setupPath) ? setupPath : join(root, setupPath), 'utf8');
  const aptPackages = readAptPackages(setupText);
  const installed = new Set(aptPackages);
  const problems: string[] = [];
  if (aptPackages.length === 0) problems.push(`${setupPath}: no APT_PACKAGES=(...) array found`);

  const uses = new Map<string, ToolUse>();
  const requirements = new Map<string, string[]>();
  for (const file of (options.files ?? repositoryFiles(root)).filter(scanned)) {
    const path = join(root, file);
    if (!existsSync(path)) continue;
    const text = readFileSync(path, 'utf8');
    let found: Array<{ command: string; line: number; probe?: boolean }> = [];
    if (/\.(ts|mts|cts|js|mjs|cjs)$/.test(file) && !file.endsWith('.d.ts')) found = codeCommands(text);
    else if (file.endsWith('package.json')) found = packageScriptCommands(root, file, text);
    else if (isShellScript(file, text)) found = shellCommands(text);
    for (const { command, line, probe } of found) {
      const use = uses.get(command) ?? {
        tool: command,
        provider: TOOLS[command],
        where: [],
        probeOnly: true,
      };
      uses.set(command, use);
      use.where.push(`${file}:${line}`);
      if (probe !== true) use.probeOnly = false;
    }
    for (const requirement of REQUIREMENTS) {
      if (!requirement.files.test(file)) continue;
      const m = requirement.pattern.exec(text);
      if (m === null) continue;
      const line = text.slice(0, m.index).split('\n').length;
      const list = requirements.get(requirement.package) ?? [];
      list.push(`${file}:${line}`);
      requirements.set(requirement.package, list);
    }
  }

  for (const use of [...uses.values()].sort((a, b) => a.tool.localeCompare(b.tool))) {
    const first = use.where[0];
    const p = use.provider;
    if (p === undefined) {
      problems.push(
        `'${use.tool}' (${first}) is not in the tool table: add it to tools/setup-check/providers.ts with the Debian package that provides it, and that package to APT_PACKAGES in ${setupPath}`,
      );
    } else if (p.kind === 'apt' && !installed.has(p.package) && !use.probeOnly) {
      problems.push(
        `'${use.tool}' (${first}) comes from Debian package ${p.package}, which ${setupPath} does not install: add ${p.package} to APT_PACKAGES`,
      );
    } else if (p.kind === 'setup' && !p.evidence.test(setupText)) {
      problems.push(
        `'${use.tool}' (${first}) should be installed by ${setupPath} (${p.how}), but no such step is there`,
      );
    }
  }
  for (const requirement of REQUIREMENTS) {
    const where = requirements.get(requirement.package);
    if (where !== undefined && !installed.has(requirement.package))
      problems.push(
        `${where[0]} needs Debian package ${requirement.package} (${requirement.why}), which ${setupPath} does not install: add it to APT_PACKAGES`,
      );
  }

  // The table must say the truth: compare it with what this machine's dpkg knows.
  const dpkgDir = options.dpkgDir === undefined ? '/var/lib/dpkg' : options.dpkgDir;
  if (dpkgDir !== null) {
    const owners = dpkgOwners(dpkgDir);
    const essential = dpkgEssential(dpkgDir);
    for (const use of uses.values()) {
      const p = use.provider;
      if (p === undefined || (p.kind !== 'apt' && p.kind !== 'essential')) continue;
      const want = p.kind === 'apt' ? (p.owner ?? p.package) : p.package;
      const have = owners.get(use.tool);
      if (have !== undefined && !have.has(want))
        problems.push(
          `tools/setup-check/providers.ts says '${use.tool}' comes from ${want}, but dpkg says ${[...have].join(', ')}`,
        );
      if (p.kind === 'essential' && essential.size > 0 && have !== undefined && !essential.has(p.package))
        problems.push(
          `tools/setup-check/providers.ts says ${p.package} (for '${use.tool}') is Essential, but dpkg does not: add it to APT_PACKAGES and mark it apt`,
        );
    }
  }
  return { aptPackages, uses: [...uses.values()], problems };
}
