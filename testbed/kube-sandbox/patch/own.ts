/**
 * Sets an own, enumerable property even for the key "__proto__", which JSON.parse creates as an
 * ordinary key: plain assignment would change the object's prototype and lose the value.
 */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
