// Kubernetes resource quantities ("500m", "2", "1.5Gi", "4e3") as Hoist's flags take them: the
// form the API server accepts, and the two readings Hoist compares (bytes, CPU millicores).
// Used by the manifests (requests and limits) and by the server's flag checks (volume size).
const QUANTITY_RE = /^(\d+(\.\d+)?|\.\d+)(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei|e\d+)?$/;

/** Is this a Kubernetes quantity such as 500m, 2, 1.5Gi? */
export function isQuantity(raw: string): boolean {
  return QUANTITY_RE.test(raw);
}

/** A quantity in bytes (binary and decimal suffixes); null when it is not a byte quantity. */
export function quantityBytes(raw: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/.exec(raw);
  if (!m) return null;
  const mult: Record<string, number> = {
    '': 1,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
    Pi: 1024 ** 5,
  };
  return Math.round(Number(m[1]) * mult[m[2] ?? '']!);
}

/** A size (volume, memory): a quantity, and not in millis ("500m" bytes is never what is meant). */
export function isByteQuantity(raw: string): boolean {
  return isQuantity(raw) && !/m$/.test(raw);
}

/** CPU in millicores ("500m", "2", "0.5"); null when it is not a plain CPU quantity. */
export function cpuMillis(raw: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(m)?$/.exec(raw);
  if (!m) return null;
  return m[2] ? Number(m[1]) : Number(m[1]) * 1000;
}
