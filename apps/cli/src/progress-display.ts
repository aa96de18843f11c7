import type { EngineEvent } from '@trident/engine';
import { formatBytes } from '@trident/units';

export type Verbosity = 'quiet' | 'normal' | 'verbose';

/**
 * Renders engine events. On a TTY: a live block with one line per image and an overall line,
 * redrawn in place. Elsewhere (logs, CI): log lines, and a progress line at most every 5 s.
 * With --json: every event as one JSON line on stdout.
 */
export function createProgressDisplay(options: {
  json: boolean;
  verbosity: Verbosity;
  stream?: NodeJS.WriteStream;
}) {
  const stream = options.stream ?? process.stderr;
  const tty = stream.isTTY === true && !options.json;
  const lines = new Map<string, string>();
  let drawn = 0;
  let lastPlain = 0;

  const clear = (): void => {
    if (!tty || drawn === 0) return;
    stream.write(`\u001b[${drawn}A\u001b[0J`);
    drawn = 0;
  };
  const draw = (): void => {
    if (!tty) return;
    clear();
    const block = [...lines.values()];
    if (block.length > 0) stream.write(`${block.join('\n')}\n`);
    drawn = block.length;
  };
  const print = (text: string): void => {
    clear();
    stream.write(`${text}\n`);
    draw();
  };

  return {
    onEvent(event: EngineEvent): void {
      if (options.json) {
        const { plan: _plan, ...rest } = event as EngineEvent & { plan?: unknown };
        process.stdout.write(
          `${JSON.stringify(event.type === 'started' ? { ...rest, plan: summarizePlan(event.plan) } : rest)}\n`,
        );
        return;
      }
      if (event.type === 'log') {
        const show =
          event.level === 'error' ||
          event.level === 'warn' ||
          (options.verbosity !== 'quiet' && event.level === 'info') ||
          options.verbosity === 'verbose';
        if (show) print(`${event.level === 'info' ? '' : `${event.level}: `}${event.message}`);
        return;
      }
      if (event.type === 'progress' && options.verbosity !== 'quiet') {
        const key = event.image ?? 'total';
        lines.set(key, progressLine(event.image ?? 'total', event));
        if (tty) draw();
        else if (event.image === undefined && performance.now() - lastPlain > 5000) {
          lastPlain = performance.now();
          stream.write(`${progressLine('total', event)}\n`);
        }
      }
    },
    finish(): void {
      clear();
      lines.clear();
    },
  };
}

function progressLine(label: string, event: Extract<EngineEvent, { type: 'progress' }>): string {
  const fraction = event.total > 0 ? Math.min(1, event.bytes / event.total) : 1;
  const width = 24;
  const filled = Math.round(fraction * width);
  const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
  const eta = event.eta === undefined || fraction >= 1 ? '' : ` eta ${Math.ceil(event.eta)}s`;
  return `${label.padEnd(12)} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${formatBytes(event.bytes)}/${formatBytes(event.total)} ${formatBytes(event.rate)}/s${eta}`;
}

function summarizePlan(plan: Extract<EngineEvent, { type: 'started' }>['plan']) {
  return { source: plan.source, targets: plan.targets, images: plan.images.length, steps: plan.steps };
}
