/**
 * The setup check, run by node's test runner from tools/test-all.sh (vitest only collects
 * packages/, apps/ and tests/): `node --test tools/setup-check/`.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkSetup, readAptPackages } from './check.ts';
import { codeCommands } from './code-commands.ts';
import { shellCommands } from './shell-commands.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const names = (found: Array<{ command: string }>) => found.map((f) => f.command);

describe('shellCommands', () => {
  test('finds commands in lists, pipelines, substitutions, bash -c and after wrappers', () => {
    const script = [
      '#!/usr/bin/env bash',
      'set -euo pipefail',
      'cd "$(dirname "$0")/.."',
      'as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }',
      'say() { printf "%s\\n" "$*"; }',
      'say "installing (many) things: zstd gdisk"',
      'as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y nginx >/dev/null 2>&1',
      'for pkg in a b c; do dpkg-query -W "$pkg" | grep -q ok || missing+=("$pkg"); done',
      'if ! command -v cargo >/dev/null; then echo no; fi',
      'out="$(mktemp -d)" && tar -C "$out" -xf x.tar',
      "bash -c 'sgdisk -v disk.img && e2fsck -fn root.img'",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell source, not a template
      'protoc="${PROTOC:-protoc}"',
      '"$protoc" --version',
      '"$unknown" --version',
      'cat <<EOF',
      'not-a-command here',
      'EOF',
      'PACKAGES=(',
      '  nginx-full also-not-a-command',
      ')',
      'timeout 10 curl -s http://127.0.0.1/',
    ].join('\n');
    assert.deepEqual(names(shellCommands(script)), [
      'dirname',
      'id',
      'sudo',
      'env',
      'apt-get',
      'dpkg-query',
      'grep',
      'mktemp',
      'tar',
      'sgdisk',
      'e2fsck',
      'bash',
      'protoc',
      'cat',
      'timeout',
      'curl',
    ]);
  });

  test('reports the line of each command', () => {
    assert.deepEqual(shellCommands('true\n\nzstd -d x \\\n  -o y\nsort z\n'), [
      { command: 'zstd', line: 3 },
      { command: 'sort', line: 5 },
    ]);
  });
});

test('case patterns are not commands, escaped parentheses are not subshells', () => {
  const script = [
    'case "$after" in',
    '  reboot|halt) systemctl reboot ;;',
    '  none) ;;',
    '  *) poweroff',
    '    ;;',
    'esac',
    "find dir \\( -name '*.map' -o -name '*.d.ts' \\) -delete",
  ].join('\n');
  assert.deepEqual(names(shellCommands(script)), ['systemctl', 'poweroff', 'find']);
});

test('commands a chroot wrapper runs belong to the new root, not to this machine', () => {
  const script = ['in_root() { chroot "$root" "$@"; }', 'in_root passwd -d root', 'ls "$root"'].join('\n');
  assert.deepEqual(names(shellCommands(script)), ['chroot', 'ls']);
});

describe('codeCommands', () => {
  test('finds literal commands of spawners, wrappers, sh -c scripts, defaults and probes', () => {
    const source = [
      "import { execFile, spawn } from 'node:child_process';",
      "await exec('sgdisk', ['-v', path]);",
      "spawn('/usr/sbin/nginx', ['-p', dir]);",
      "await runTool(\n  'e2fsck',\n  ['-fn', image],\n);",
      "spawn('sh', ['-c', 'zstd -q -d -c \"$1\" > \"$2\"', 'sh', a, b]);",
      "execFileSync(process.env['PROTOC'] ?? 'protoc', ['--version']);",
      "const ok = has('systemd-socket-activate');",
      "const m = /x/.exec('not a command');",
      "sqlite.exec('CREATE TABLE t (a)');",
      'run(command, args);',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: TypeScript source under test
      'spawn(`${bin}/tool`, []);',
    ].join('\n');
    assert.deepEqual(
      codeCommands(source).map((c) => [c.command, c.line, c.probe === true]),
      [
        ['sgdisk', 2, false],
        ['nginx', 3, false],
        ['e2fsck', 4, false],
        ['sh', 8, false],
        ['zstd', 8, false],
        ['systemd-socket-activate', 10, true],
        ['protoc', 9, false],
      ],
    );
  });
});

/** A tiny repository: a setup script, and files that use tools. */
async function fixtureRepo(setup: string, files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'setup-check-'));
  await mkdir(join(root, 'tools'), { recursive: true });
  await writeFile(join(root, 'tools/setup.sh'), setup);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, file)), { recursive: true });
    await writeFile(join(root, file), text);
  }
  return root;
}

describe('checkSetup', () => {
  test('reads APT_PACKAGES, comments and += blocks included', () => {
    const setup =
      'X=1\nAPT_PACKAGES=(\n  # a comment (with parens)\n  nginx zstd\n  gdisk # why\n)\nAPT_PACKAGES+=(qemu-system-x86 ovmf)\n';
    assert.deepEqual(readAptPackages(setup), ['nginx', 'zstd', 'gdisk', 'qemu-system-x86', 'ovmf']);
    const grouped =
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell source, not a template
      'VM_PACKAGES=(\n  swtpm mmdebstrap\n)\nAPT_PACKAGES=(nginx)\nAPT_PACKAGES+=("${VM_PACKAGES[@]}")\n';
    assert.deepEqual(readAptPackages(grouped), ['nginx', 'swtpm', 'mmdebstrap']);
  });

  test('a tool whose package setup does not install fails, naming the package and the use', async () => {
    const root = await fixtureRepo('APT_PACKAGES=(nginx)\n', {
      'src/disk.ts': "await exec('sgdisk', ['-v', path]);\n",
      'src/web.ts': "spawn('nginx', ['-c', conf]);\n",
    });
    try {
      const result = checkSetup({ root, files: ['src/disk.ts', 'src/web.ts'], dpkgDir: null });
      assert.equal(result.problems.length, 1);
      assert.match(
        result.problems[0]!,
        /'sgdisk' \(src\/disk\.ts:1\) comes from Debian package gdisk, which tools\/setup\.sh does not install/,
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('a tool that is in no table fails with what to do', async () => {
    const root = await fixtureRepo('APT_PACKAGES=(nginx)\n', { 'run.sh': '#!/bin/sh\nfrobnicate --all\n' });
    try {
      const result = checkSetup({ root, files: ['run.sh'], dpkgDir: null });
      assert.equal(result.problems.length, 1);
      assert.match(
        result.problems[0]!,
        /'frobnicate' \(run\.sh:2\) is not in the tool table: add it to tools\/setup-check\/providers\.ts/,
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('a .proto importing the well-known protos needs libprotobuf-dev', async () => {
    const proto = 'syntax = "proto3";\nimport "google/protobuf/timestamp.proto";\n';
    const root = await fixtureRepo('APT_PACKAGES=(protobuf-compiler)\n', { 'proto/a.proto': proto });
    try {
      const result = checkSetup({ root, files: ['proto/a.proto'], dpkgDir: null });
      assert.equal(result.problems.length, 1);
      assert.match(result.problems[0]!, /^proto\/a\.proto:2 needs Debian package libprotobuf-dev/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test("this repository's setup is complete", () => {
    const result = checkSetup({ root: ROOT });
    assert.deepEqual(result.problems, []);
    for (const tool of ['protoc', 'nginx', 'sgdisk', 'python3', 'losetup'])
      assert.ok(
        result.uses.some((u) => u.tool === tool),
        `${tool} is found as a use`,
      );
  });

  test("without libprotobuf-dev (or mount) in this repository's setup.sh the check fails", async () => {
    const setup = await readFile(join(ROOT, 'tools/setup.sh'), 'utf8');
    for (const pkg of ['libprotobuf-dev', 'mount', 'python3-venv']) {
      const root = await mkdtemp(join(tmpdir(), 'setup-check-real-'));
      try {
        await mkdir(join(root, 'tools'));
        await writeFile(join(root, 'tools/setup.sh'), setup.replace(new RegExp(` ${pkg}\\b`), ''));
        const result = checkSetup({ root: ROOT, setupScript: join(root, 'tools/setup.sh') });
        assert.ok(
          result.problems.some((p) => p.includes(`package ${pkg}`)),
          `${pkg}: ${result.problems.join('\n')}`,
        );
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    }
  });
});
