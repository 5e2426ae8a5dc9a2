import type { Clock } from '../clock.ts';

/**
 * Allows at most `burst` events per `windowMs`, so a flapping tag cannot flood the API server
 * with Events. Labels are still written; only the Event is dropped.
 */
export function createEventLimiter(clock: Clock, burst = 5, windowMs = 10 * 60_000) {
  const sent: number[] = [];
  return {
    tryTake(): boolean {
      const now = clock.now();
      while (sent.length && now - sent[0]! >= windowMs) sent.shift();
      if (sent.length >= burst) return false;
      sent.push(now);
      return true;
    },
  };
}
