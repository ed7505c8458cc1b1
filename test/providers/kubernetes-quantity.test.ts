// Kubernetes quantities as the flags take them: the accepted form and the two readings.
import { describe, expect, it } from '@jest/globals';
import {
  cpuMillis,
  isByteQuantity,
  isQuantity,
  quantityBytes,
} from '../../src/providers/kubernetes-quantity.js';

describe('kubernetes quantities', () => {
  it.each([
    // raw, isQuantity, isByteQuantity, quantityBytes, cpuMillis
    ['500m', true, false, null, 500],
    ['2', true, true, 2, 2000],
    ['0.5', true, true, 1, 500],
    ['.5', true, true, null, null],
    ['1.5Gi', true, true, 1.5 * 1024 ** 3, null],
    ['20Gi', true, true, 20 * 1024 ** 3, null],
    ['512Mi', true, true, 512 * 1024 ** 2, null],
    ['4G', true, true, 4e9, null],
    ['1k', true, true, 1000, null],
    ['1Ei', true, true, null, null],
    ['4e3', true, true, null, null],
    ['1GB', false, false, null, null],
    ['1 Gi', false, false, null, null],
    ['-1', false, false, null, null],
    ['', false, false, null, null],
  ] as const)('%j', (raw, quantity, bytesLike, bytes, millis) => {
    expect(isQuantity(raw)).toBe(quantity);
    expect(isByteQuantity(raw)).toBe(bytesLike);
    expect(quantityBytes(raw)).toBe(bytes);
    expect(cpuMillis(raw)).toBe(millis);
  });
});
