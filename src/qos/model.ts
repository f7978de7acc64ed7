// QoS of an endpoint: rate limits in both directions, a burst and a DSCP mark, read from a
// network's `-o` options, an endpoint's `--driver-opt`s or the control API (qos.set), merged
// (the endpoint's keys win) into the spec the backends apply. Pure: no OVS, no OVN.
import { InputError } from '../util/errors';

export interface QosSpec {
  /** Container egress (what it sends), Mbit/s; 0: explicitly unlimited (overrides the network's). */
  maxRate?: number;
  /** Container ingress (what it receives), Mbit/s; 0: explicitly unlimited. */
  maxRateIn?: number;
  /** Burst of the rate limits, kbit (default: 0.4 s of the rate, what TCP needs through a policer). */
  burst?: number;
  /** DSCP written on every IP packet the container sends (0-63). */
  dscp?: number;
}

export const QOS_KEYS = {
  maxRate: 'qos.max_rate',
  maxRateIn: 'qos.max_rate_in',
  burst: 'qos.burst',
  dscp: 'qos.dscp',
} as const satisfies Record<keyof QosSpec, string>;

/** What each option accepts, for the README's option table and for "unknown option" messages. */
export const QOS_OPTION_DOCS = [
  { key: QOS_KEYS.maxRate, accepts: '0-100000 Mbit/s (up to 3 decimals; 0: unlimited)', help: 'rate limit of what the container sends' },
  { key: QOS_KEYS.maxRateIn, accepts: '0-100000 Mbit/s (up to 3 decimals; 0: unlimited)', help: 'rate limit of what the container receives' },
  { key: QOS_KEYS.burst, accepts: '1-100000000 kbit', help: 'burst of the rate limits (default 0.4 s of the rate)' },
  { key: QOS_KEYS.dscp, accepts: '0-63', help: 'DSCP set on every IP packet the container sends' },
] as const;

const MAX_RATE_MBIT = 100_000;
const MAX_BURST_KBIT = 100_000_000;
/** A policer needs about 0.4 s of the rate as burst for TCP to reach the rate (measured: 5000 kbit at 50 Mbit/s gave 24). */
export const DEFAULT_BURST_SECONDS = 0.4;

const RATE_RE = /^\d{1,6}(\.\d{1,3})?$/;
const INT_RE = /^\d{1,10}$/;

export function isQosKey(key: string): boolean {
  return (Object.values(QOS_KEYS) as string[]).includes(key);
}

function text(key: string, raw: unknown): string {
  if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw);
  if (typeof raw === 'string') return raw.trim();
  throw new InputError(`option ${key}: ${JSON.stringify(raw)} is not valid; accepted: a number`);
}

function rate(key: string, raw: unknown): number {
  const v = text(key, raw);
  const n = Number(v);
  if (!RATE_RE.test(v) || n > MAX_RATE_MBIT) throw new InputError(`option ${key}: "${v}" is not valid; accepted: 0-${MAX_RATE_MBIT} Mbit/s with up to 3 decimals (0: unlimited)`);
  if (n > 0 && n * 1000 < 1) throw new InputError(`option ${key}: "${v}" is not valid; accepted: at least 0.001 Mbit/s (1 kbit/s), or 0 for unlimited`);
  return n;
}

function intIn(key: string, raw: unknown, lo: number, hi: number, what: string): number {
  const v = text(key, raw);
  if (!INT_RE.test(v) || Number(v) < lo || Number(v) > hi) throw new InputError(`option ${key}: "${v}" is not valid; accepted: ${what}`);
  return Number(v);
}

/**
 * The QoS keys of an option map (other keys are left to their owners). Throws InputError naming
 * the option, the value and what it accepts. `strict`: every key must be a QoS key (qos.set).
 */
export function parseQos(options: Readonly<Record<string, unknown>>, strict = false): QosSpec {
  const spec: QosSpec = {};
  for (const [key, raw] of Object.entries(options)) {
    switch (key) {
      case QOS_KEYS.maxRate:
        spec.maxRate = rate(key, raw);
        break;
      case QOS_KEYS.maxRateIn:
        spec.maxRateIn = rate(key, raw);
        break;
      case QOS_KEYS.burst:
        spec.burst = intIn(key, raw, 1, MAX_BURST_KBIT, `1-${MAX_BURST_KBIT} kbit`);
        break;
      case QOS_KEYS.dscp:
        spec.dscp = intIn(key, raw, 0, 63, '0-63 (the 6-bit DSCP, e.g. 46 for EF)');
        break;
      default:
        if (strict) throw new InputError(`unknown QoS option "${key}"; known: ${Object.values(QOS_KEYS).join(', ')}`);
    }
  }
  return spec;
}

/** The endpoint's keys over the network's. The result may still hold explicit zeros (see effectiveQos). */
export function mergeQos(network: QosSpec, endpoint: QosSpec): QosSpec {
  const out: QosSpec = { ...network };
  for (const k of Object.keys(QOS_KEYS) as (keyof QosSpec)[]) if (endpoint[k] !== undefined) out[k] = endpoint[k];
  return out;
}

/**
 * What is to be applied: zero rates dropped (unlimited), the burst only beside a rate. Throws
 * InputError on a burst with no rate to go with it (it would limit nothing).
 */
export function effectiveQos(spec: QosSpec): QosSpec {
  const out: QosSpec = {};
  if (spec.maxRate) out.maxRate = spec.maxRate;
  if (spec.maxRateIn) out.maxRateIn = spec.maxRateIn;
  if (spec.burst !== undefined) {
    if (!out.maxRate && !out.maxRateIn) throw new InputError(`option ${QOS_KEYS.burst}: ${spec.burst} kbit limits nothing without ${QOS_KEYS.maxRate} or ${QOS_KEYS.maxRateIn}`);
    out.burst = spec.burst;
  }
  if (spec.dscp !== undefined) out.dscp = spec.dscp;
  return out;
}

export function isEmptyQos(spec: QosSpec): boolean {
  return Object.values(spec).every((v) => v === undefined);
}

/** A rate in kbit/s, as meters, OVN and HTB (x1000) take it. */
export const kbps = (mbit: number): number => Math.round(mbit * 1000);

/** The burst (kbit) of a limit of `rateMbit`: the spec's, or 0.4 s of the rate. */
export function burstKbit(spec: QosSpec, rateMbit: number): number {
  return spec.burst ?? Math.max(1, Math.round(kbps(rateMbit) * DEFAULT_BURST_SECONDS));
}

/** The spec as option keys (EndpointOperInfo, the control API's answers, the endpoint record). */
export function qosView(spec: QosSpec): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(QOS_KEYS) as (keyof QosSpec)[]) if (spec[k] !== undefined) out[QOS_KEYS[k]] = spec[k];
  return out;
}

/** For an external_ids value: `qos.max_rate=50,qos.dscp=46` ('' for none). */
export function encodeQos(spec: QosSpec): string {
  return Object.entries(qosView(spec)).map(([k, v]) => `${k}=${v}`).join(',');
}

/** The inverse of encodeQos (throws InputError on a value it never wrote). */
export function decodeQos(value: string | undefined): QosSpec {
  if (!value) return {};
  const opts: Record<string, string> = {};
  for (const part of value.split(',')) {
    const i = part.indexOf('=');
    if (i < 1) throw new InputError(`QoS record "${value}" is not k=v,k=v`);
    opts[part.slice(0, i)] = part.slice(i + 1);
  }
  return parseQos(opts, true);
}
