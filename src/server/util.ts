import { createHash, randomFillSync } from 'node:crypto';

/** Time source, replaceable in tests. */
export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };

/** A random id with a readable prefix; time-ordered so ids sort by creation. */
// Small random values come from a pool refilled 4 KiB at a time: one RAND call per ~500 ids
// instead of one per id, on the OIDC exchange's hot path.
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;
export function randomHex(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const hex = pool.toString('hex', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return hex;
}

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
  return `${prefix}_${t}${randomHex(6)}`;
}

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export function iso(d: Date): string {
  return d.toISOString();
}
