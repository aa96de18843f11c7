import { channel } from 'node:diagnostics_channel';

/**
 * The package never prints. It publishes on these `node:diagnostics_channel` channels; the engine
 * (or a CLI with `--verbose`) subscribes. Publishing costs nothing when nobody listens.
 */
export const CHANNEL_REQUEST = 'trident:remote-source:request';
export const CHANNEL_RETRY = 'trident:remote-source:retry';
export const CHANNEL_PROGRESS = 'trident:remote-source:progress';
export const CHANNEL_REDIRECT = 'trident:remote-source:redirect';
export const CHANNEL_WARNING = 'trident:remote-source:warning';
export const CHANNEL_AUTH = 'trident:remote-source:auth';

/** One HTTP request sent (including each resume and redirect hop). */
export interface RequestEvent {
  method: string;
  url: string;
  range: string | undefined;
}

/** A failed attempt that will be retried after `delayMs`. `resumeOffset` is the first missing byte. */
export interface RetryEvent {
  url: string;
  attempt: number;
  delayMs: number;
  reason: string;
  status: number | undefined;
  resumeOffset: number | undefined;
}

/** Bytes delivered by a `stream()`/`read()`: `delivered` of `length` so far, from `offset`. */
export interface ProgressEvent {
  url: string;
  offset: number;
  length: number;
  delivered: number;
}

export interface RedirectEvent {
  from: string;
  to: string;
  status: number;
  /** True when credentials were dropped because the redirect leaves the origin. */
  droppedCredentials: boolean;
}

export interface WarningEvent {
  url: string;
  code:
    | 'SEQUENTIAL_MODE'
    | 'SEQUENTIAL_REWIND'
    | 'NO_ACCEPT_RANGES'
    | 'BLOB_DIGEST_REFERENCE'
    | 'REDIRECT_EXPIRED'
    | 'LAYER_MEDIA_TYPE';
  message: string;
}

export interface AuthEvent {
  registry: string;
  scheme: 'anonymous-token' | 'credential-token' | 'basic' | 'bearer' | 'refresh';
  scope: string | undefined;
}

const request = channel(CHANNEL_REQUEST);
const retry = channel(CHANNEL_RETRY);
const progress = channel(CHANNEL_PROGRESS);
const redirect = channel(CHANNEL_REDIRECT);
const warning = channel(CHANNEL_WARNING);
const auth = channel(CHANNEL_AUTH);

export const publish = {
  request(event: RequestEvent): void {
    if (request.hasSubscribers) request.publish(event);
  },
  retry(event: RetryEvent): void {
    if (retry.hasSubscribers) retry.publish(event);
  },
  progress(event: ProgressEvent): void {
    if (progress.hasSubscribers) progress.publish(event);
  },
  redirect(event: RedirectEvent): void {
    if (redirect.hasSubscribers) redirect.publish(event);
  },
  warning(event: WarningEvent): void {
    if (warning.hasSubscribers) warning.publish(event);
  },
  auth(event: AuthEvent): void {
    if (auth.hasSubscribers) auth.publish(event);
  },
};
