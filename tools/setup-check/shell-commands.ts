/**
 * The external commands a shell script runs, found by a small lexer (not a full shell parser):
 * quotes, `$(...)`, backticks, pipelines and lists, `bash -c '...'`, heredocs and array literals
 * are understood well enough for this repository's scripts, and so are `case` patterns and escaped
 * characters. Builtins, keywords, the script's own
 * functions and words that are variable expansions are left out.
 */

const KEYWORDS = new Set([
  'if',
  'then',
  'else',
  'elif',
  'fi',
  'do',
  'done',
  'while',
  'until',
  'for',
  'in',
  'case',
  'esac',
  'function',
  'select',
  '!',
  '{',
  '}',
  '[[',
  ']]',
  '((',
  '))',
  'time',
]);

/** bash builtins (and `[`): never an external tool. */
export const SHELL_BUILTINS = new Set([
  '.',
  ':',
  '[',
  'alias',
  'bg',
  'bind',
  'break',
  'builtin',
  'caller',
  'cd',
  'command',
  'compgen',
  'complete',
  'continue',
  'declare',
  'dirs',
  'disown',
  'echo',
  'enable',
  'eval',
  'exec',
  'exit',
  'export',
  'false',
  'fc',
  'fg',
  'getopts',
  'hash',
  'help',
  'history',
  'jobs',
  'kill',
  'let',
  'local',
  'logout',
  'mapfile',
  'popd',
  'printf',
  'pushd',
  'pwd',
  'read',
  'readarray',
  'readonly',
  'return',
  'set',
  'shift',
  'shopt',
  'source',
  'suspend',
  'test',
  'times',
  'trap',
  'true',
  'type',
  'typeset',
  'ulimit',
  'umask',
  'unalias',
  'unset',
  'wait',
]);

/** Commands that run the command named after their own options (`sudo apt-get ...`). */
const WRAPPERS = new Set([
  'sudo',
  'env',
  'exec',
  'nohup',
  'nice',
  'setsid',
  'stdbuf',
  'timeout',
  'xargs',
  'command',
]);

export interface FoundCommand {
  command: string;
  /** 1-based line in the script. */
  line: number;
}

interface Word {
  text: string;
  /** The word contains an unquoted or double-quoted `$` expansion. */
  dynamic: boolean;
  line: number;
}

/** Removes heredoc bodies and multi-line `NAME=(` ... `)` array literals, keeping line numbers. */
function blankNonCode(lines: string[]): string[] {
  const out: string[] = [];
  let heredoc: string | undefined;
  let inArray = false;
  for (const line of lines) {
    if (heredoc !== undefined) {
      out.push('');
      if (line.trim() === heredoc) heredoc = undefined;
      continue;
    }
    if (inArray) {
      out.push('');
      if (/^[^#]*\)/.test(line)) inArray = false;
      continue;
    }
    const array = /^\s*[A-Za-z_][A-Za-z0-9_]*\+?=\(([^)]*)$/.exec(line);
    if (array !== null) {
      out.push('');
      inArray = true;
      continue;
    }
    out.push(line.replace(/^\s*[A-Za-z_][A-Za-z0-9_]*\+?=\([^)]*\)\s*$/, ''));
    const doc = /<<-?\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\1/.exec(line);
    if (doc !== null) heredoc = doc[2];
  }
  return out;
}

/** Splits source into simple commands (lists of words); `$(...)` bodies become commands too. */
function simpleCommands(source: string, firstLine = 1): Word[][] {
  const commands: Word[][] = [];
  let current: Word[] = [];
  let word = '';
  let dynamic = false;
  let inWord = false;
  let line = firstLine;
  let wordLine = line;
  // Where we are in `case WORD in PATTERN) BODY ;; ... esac`: patterns are not commands, and their
  // `|` and `)` are not operators. One entry per open `case` (they nest).
  const cases: Array<'header' | 'pattern' | 'body'> = [];
  const endWord = () => {
    if (inWord) {
      const state = cases.at(-1);
      if (word === 'case' && current.length === 0 && !dynamic) cases.push('header');
      else if (state === 'header' && word === 'in' && current.length === 2) {
        cases[cases.length - 1] = 'pattern';
        current = [];
        word = '';
        inWord = false;
        return;
      } else if (state !== undefined && state !== 'header' && word === 'esac' && current.length === 0) {
        cases.pop();
        word = '';
        inWord = false;
        return;
      }
      current.push({ text: word, dynamic, line: wordLine });
    }
    word = '';
    dynamic = false;
    inWord = false;
  };
  const endCommand = () => {
    endWord();
    if (current.length > 0) commands.push(current);
    current = [];
  };
  const startWord = () => {
    if (!inWord) wordLine = line;
    inWord = true;
  };
  /** Index just past the `)` matching the `(` before `start`, honouring quotes. */
  const closing = (start: number): number => {
    let depth = 1;
    for (let j = start; j < source.length; j++) {
      const c = source[j];
      if (c === "'") j = source.indexOf("'", j + 1);
      else if (c === '\\') j++;
      else if (c === '(') depth++;
      else if (c === ')' && --depth === 0) return j;
      if (j < 0) break;
    }
    return source.length;
  };
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\n') {
      line++;
      endCommand();
    } else if (c === '\\' && source[i + 1] === '\n') {
      line++;
      i++;
    } else if (c === '\\') {
      // An escaped character is literal: `find \( -name x \)` has no subshell.
      startWord();
      word += source[i + 1] ?? '';
      i++;
    } else if (cases.at(-1) === 'pattern' && (c === '|' || c === ')' || c === '(')) {
      // A case pattern (`a|b)`, `(a)`, `*)`): drop it; after `)` comes the clause's body.
      word = '';
      inWord = false;
      current = [];
      if (c === ')') cases[cases.length - 1] = 'body';
    } else if (cases.at(-1) === 'body' && c === ';' && source[i + 1] === ';') {
      endCommand();
      cases[cases.length - 1] = 'pattern';
      i += source[i + 2] === '&' ? 2 : 1;
    } else if (c === '#' && !inWord) {
      const end = source.indexOf('\n', i);
      i = (end < 0 ? source.length : end) - 1;
    } else if (c === "'") {
      startWord();
      const end = source.indexOf("'", i + 1);
      const text = source.slice(i + 1, end < 0 ? undefined : end);
      line += text.split('\n').length - 1;
      word += text;
      i = end < 0 ? source.length : end;
    } else if (c === '"') {
      startWord();
      let j = i + 1;
      for (; j < source.length && source[j] !== '"'; j++) {
        if (source[j] === '\\') {
          word += source[j + 1] ?? '';
          j++;
        } else if (source[j] === '$' && source[j + 1] === '(') {
          const end = closing(j + 2);
          commands.push(...simpleCommands(source.slice(j + 2, end), line));
          dynamic = true;
          j = end;
        } else if (source[j] === '$') {
          dynamic = true;
          word += '$';
        } else {
          if (source[j] === '\n') line++;
          word += source[j];
        }
      }
      i = j;
    } else if (c === '$' && source[i + 1] === '(') {
      const end = closing(i + 2);
      commands.push(...simpleCommands(source.slice(i + 2, end), line));
      startWord();
      dynamic = true;
      i = end;
    } else if (c === '`') {
      const end = source.indexOf('`', i + 1);
      commands.push(...simpleCommands(source.slice(i + 1, end < 0 ? undefined : end), line));
      startWord();
      dynamic = true;
      i = end < 0 ? source.length : end;
    } else if (c === '$') {
      startWord();
      dynamic = true;
      word += c;
    } else if (c === ';' || c === '|' || c === '&' || c === '(' || c === ')') {
      endCommand();
    } else if (c === ' ' || c === '\t') {
      endWord();
    } else if ((c === '<' || c === '>') && (!inWord || /^\d+$/.test(word))) {
      // A file descriptor number before the operator (`2>&1`) belongs to the redirection.
      if (inWord) {
        word = '';
        inWord = false;
      }
      // A redirection: skip the operator and its target word.
      let j = i + 1;
      while (source[j] === '<' || source[j] === '>' || source[j] === '&') j++;
      while (source[j] === ' ') j++;
      while (j < source.length && !/[\s;|&)]/.test(source[j]!)) j++;
      i = j - 1;
    } else {
      startWord();
      word += c;
    }
  }
  endCommand();
  return commands;
}

/**
 * `protoc="${PROTOC:-protoc}"`: a variable whose value defaults to a command name. A command word
 * that is just `$protoc` then runs that default (the override is the user's business).
 */
function defaultCommands(text: string): Map<string, string> {
  const defaults = new Map<string, string>();
  for (const m of text.matchAll(
    /^[ \t]*(?:local[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)="?\$\{[A-Za-z_][A-Za-z0-9_]*:-([\w.+/-]+)\}"?[ \t]*$/gm,
  ))
    defaults.set(m[1]!, m[2]!);
  return defaults;
}

/** The command a simple command runs (after assignments, keywords and wrappers), if static. */
function commandOf(
  words: Word[],
  found: FoundCommand[],
  functions: Set<string>,
  defaults: Map<string, string> = new Map(),
): void {
  let i = 0;
  const skip = () => {
    while (i < words.length) {
      const w = words[i]!.text;
      if (KEYWORDS.has(w) || /^[A-Za-z_][A-Za-z0-9_]*\+?=/.test(w) || /^\d*[<>]/.test(w) || /\)$/.test(w))
        i++;
      else break;
    }
  };
  skip();
  // `for x in ...` and `case x in` have no command of their own; their bodies are other commands.
  if (i > 0 && ['for', 'select', 'case'].includes(words[i - 1]!.text)) return;
  while (i < words.length) {
    const word = words[i]!;
    const variable = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/.exec(word.text)?.[1];
    if (variable !== undefined && defaults.has(variable)) {
      found.push({ command: defaults.get(variable)!, line: word.line });
      return;
    }
    if (word.dynamic || word.text === '') return;
    const name = word.text.includes('/') ? word.text.slice(word.text.lastIndexOf('/') + 1) : word.text;
    if ((name === 'bash' || name === 'sh') && words[i + 1]?.text === '-c' && words[i + 2] !== undefined) {
      const script = words[i + 2]!;
      if (!script.dynamic)
        for (const inner of shellCommands(script.text)) found.push({ ...inner, line: script.line });
      found.push({ command: name, line: word.line });
      return;
    }
    // `command -v X`, `type X`, `hash X` only ask whether X exists: a probe, not a use.
    if (
      (name === 'command' && /^-[vV]$/.test(words[i + 1]?.text ?? '')) ||
      name === 'type' ||
      name === 'hash'
    )
      return;
    if (functions.has(`${name}:chroot`)) return;
    if (WRAPPERS.has(name) || functions.has(`${name}:wrapper`)) {
      if (!SHELL_BUILTINS.has(name) && !functions.has(`${name}:wrapper`))
        found.push({ command: name, line: word.line });
      i++;
      // Options, assignments and numbers (timeout 10, nice -n 5) before the wrapped command.
      while (i < words.length && /^(-|[A-Za-z_][A-Za-z0-9_]*=|\d+[smhd]?$)/.test(words[i]!.text)) {
        if (name === 'nice' && words[i]!.text === '-n') i++;
        i++;
      }
      continue;
    }
    if (!SHELL_BUILTINS.has(name) && !KEYWORDS.has(name) && !functions.has(name))
      found.push({ command: name, line: word.line });
    return;
  }
}

/**
 * Every external command `source` (a shell script) runs, in order of appearance. A function
 * that runs its arguments (`as_root() { ... "$@" ... }`) is treated as a wrapper like sudo.
 */
export function shellCommands(source: string): FoundCommand[] {
  const lines = blankNonCode(source.split('\n'));
  const text = lines.join('\n');
  const functions = new Set<string>();
  for (const m of text.matchAll(
    /^[ \t]*(?:function[ \t]+)?([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\(\)[ \t]*\{?(.*)$/gm,
  )) {
    functions.add(m[1]!);
    // A body that runs "$@" makes the function a wrapper (it may span lines: look ahead a bit).
    const start = m.index ?? 0;
    const oneLine = /\}\s*$/.test(m[2] ?? '');
    const end = oneLine ? text.indexOf('\n', start) : text.indexOf('\n}', start) + 2;
    const body = text.slice(start, end > start ? end : undefined);
    const inner = body.replace(/^[^{]*\{/, '');
    // One that runs them through chroot runs the new root's programs, not this machine's.
    if (/(^|[\s;])chroot\b/.test(inner)) functions.add(`${m[1]}:chroot`);
    else if (/(^|[\s;])"?\$@"?/.test(inner)) functions.add(`${m[1]}:wrapper`);
  }
  const found: FoundCommand[] = [];
  const defaults = defaultCommands(text);
  for (const words of simpleCommands(text)) commandOf(words, found, functions, defaults);
  return found;
}
