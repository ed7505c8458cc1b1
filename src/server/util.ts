import { createHash, randomBytes } from 'node:crypto';

/** Time source, replaceable in tests. */
export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };

/** A random id with a readable prefix; time-ordered so ids sort by creation. */
let lastMs = 0;
let seq = 0;
export function newId(prefix: string): string {
  const ms = Date.now();
  if (ms === lastMs) {
    seq++;
  } else {
    lastMs = ms;
    seq = 0;
  }
  const t = ms.toString(36).padStart(9, '0') + seq.toString(36).padStart(4, '0');
  return `${prefix}_${t}${randomBytes(6).toString('hex')}`;
}

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export function iso(d: Date): string {
  return d.toISOString();
}
