import diagnosticsChannel from 'node:diagnostics_channel';

/**
 * Libraries never print. Warnings and step notices go to these channels; the CLI and the engine
 * subscribe (`diagnostics_channel.subscribe(name, fn)`) and decide what to show.
 */
export const WARNING_CHANNEL = 'trident:block-writer:warning';
export const STEP_CHANNEL = 'trident:block-writer:step';

export interface BlockWriterWarning {
  /** Stable identifier of the warning kind, e.g. `filesystem-not-grown`. */
  kind: string;
  device: string;
  message: string;
}

export interface BlockWriterStep {
  /** e.g. `wipe`, `gpt-written`, `reread`, `grow`. */
  step: string;
  device: string;
  detail?: Record<string, unknown>;
}

const warningChannel = diagnosticsChannel.channel(WARNING_CHANNEL);
const stepChannel = diagnosticsChannel.channel(STEP_CHANNEL);

export function publishWarning(warning: BlockWriterWarning): void {
  if (warningChannel.hasSubscribers) warningChannel.publish(warning);
}

export function publishStep(step: BlockWriterStep): void {
  if (stepChannel.hasSubscribers) stepChannel.publish(step);
}
