/** Only apps print. Everything the CLI writes goes through these, so `--json` output stays clean. */
export interface Output {
  json: boolean;
  line(text?: string): void;
  error(text: string): void;
  printJson(value: unknown): void;
}

/**
 * Calls `onClosed` once when stdout's reader goes away (EPIPE), instead of the unhandled 'error'
 * event Node turns into a stack trace. Later writes to stdout are dropped. EPIPE on stderr is
 * ignored the same way (nobody is left to read a message about it).
 */
export function handleClosedOutput(onClosed: () => void): void {
  let closed = false;
  const onError = (error: NodeJS.ErrnoException): void => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
    if (closed) return;
    closed = true;
    onClosed();
  };
  process.stdout.on('error', onError);
  process.stderr.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
  });
}

export function createOutput(json: boolean): Output {
  return {
    json,
    line: (text = '') => process.stdout.write(`${text}\n`),
    error: (text) => process.stderr.write(`${text}\n`),
    printJson: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
  };
}

/** A plain text table: columns padded to their widest cell, numbers right-aligned. */
export function renderTable(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = rows.map((row) => row.map((cell) => String(cell)));
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...cells.map((row) => row[i]?.length ?? 0)),
  );
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((row) => typeof row[i] === 'number'));
  const format = (row: string[]): string =>
    row
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [format(headers), format(widths.map((w) => '-'.repeat(w))), ...cells.map(format)].join('\n');
}
