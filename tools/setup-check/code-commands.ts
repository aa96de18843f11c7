/**
 * The external commands TypeScript/JavaScript code runs: the first argument of a process-starting
 * call when it is a string literal (`spawn('nginx', ...)`, `execFile('sgdisk', ...)`, and this
 * repository's wrappers such as `runTool('e2fsck', ...)` or `run('losetup', ...)`), shell strings
 * given to `exec`/`execSync` or `sh -c`, and `has('tool')`-style probes. Calls whose command is a
 * variable are not visible here; the tools they run are literals somewhere else in practice.
 */
import { type FoundCommand, shellCommands } from './shell-commands.ts';

/** Callee names that start a process with their first argument as the command. */
const SPAWNERS =
  /^(?:spawn|spawnSync|spawnManaged|execFile|execFileSync|exec|execSync|execa|run|runTool|runToolChecked|runChecked|runCommand|runProcess)$/;
/** Callees whose string is a shell command line (node's exec/execSync; a promisified execFile is not). */
const SHELL_STRING = /^(?:exec|execSync)$/;
/** Callees that only ask whether a tool exists. */
const PROBES = /^(?:has|hasCommand|commandExists|which|haveTool)$/;

function lineAt(source: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (source.charCodeAt(i) === 10) line++;
  return line;
}

function baseName(command: string): string {
  return command.includes('/') ? command.slice(command.lastIndexOf('/') + 1) : command;
}

/** Every external command `source` (TS/JS) starts, with its line; probes are marked. */
export function codeCommands(source: string): Array<FoundCommand & { probe?: boolean }> {
  const found: Array<FoundCommand & { probe?: boolean }> = [];
  // A call: name, optional type arguments, then a string literal as the first argument.
  const call = /(?<![\w.$])([A-Za-z_$][\w$]*)\s*(?:<[^>()]*>)?\s*\(\s*(['"`])((?:\\.|(?!\2)[^\\])*)\2/g;
  for (const m of source.matchAll(call)) {
    const callee = m[1]!;
    const literal = m[3]!;
    const line = lineAt(source, m.index ?? 0);
    if (m[2] === '`' && literal.includes('${')) continue;
    if (PROBES.test(callee)) {
      if (/^[\w.+-]+$/.test(literal)) found.push({ command: literal, line, probe: true });
      continue;
    }
    if (!SPAWNERS.test(callee)) continue;
    if (SHELL_STRING.test(callee) && /[\s|;&<>$]/.test(literal)) {
      for (const inner of shellCommands(literal)) found.push({ command: inner.command, line });
      continue;
    }
    if (!/^[\w./+-]+$/.test(literal)) continue;
    const command = baseName(literal);
    found.push({ command, line });
    if (command === 'sh' || command === 'bash') {
      // spawn('sh', ['-c', 'zstd -d ... > "$2"', ...]): the script's own commands.
      const rest = source.slice((m.index ?? 0) + m[0].length, (m.index ?? 0) + m[0].length + 400);
      const script = /^\s*,\s*\[\s*(['"])-c\1\s*,\s*(['"`])((?:\\.|(?!\2)[^\\])*)\2/.exec(rest);
      if (script !== null && !(script[2] === '`' && script[3]!.includes('${')))
        for (const inner of shellCommands(script[3]!)) found.push({ command: inner.command, line });
    }
  }
  // spawn(process.env['PROTOC'] ?? 'protoc', ...): an overridable command with a default.
  const withDefault =
    /(?<![\w.$])([A-Za-z_$][\w$]*)\s*\(\s*(?:[\w$.]|\[\s*['"]\w+['"]\s*\])+\s*\?\?\s*(['"])([\w./+-]+)\2\s*[,)]/g;
  for (const m of source.matchAll(withDefault))
    if (SPAWNERS.test(m[1]!)) found.push({ command: baseName(m[3]!), line: lineAt(source, m.index ?? 0) });
  return found;
}
