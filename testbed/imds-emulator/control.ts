import { FaultPlanError, type ResolvedFaultPlan } from './faults.ts';
import { FixtureError, isFixtureName, FIXTURE_NAMES, type Fixture } from './fixtures.ts';
import { empty, error, json, methodNotAllowed, type Answer } from './responses.ts';
import { replaceEventsSchema, type ScheduledEvents } from './scheduledEvents.ts';

/**
 * The control endpoints under /_emulator/, for tests and local experiments only: they need no
 * Metadata header, are never throttled or faulted, and are not counted.
 *
 *   GET    /_emulator/faults     the plan in force
 *   POST   /_emulator/faults     replace the plan (JSON body); 400 names the bad field
 *   DELETE /_emulator/faults     no faults
 *   GET    /_emulator/requests   {"total": N, "byPath": {"/metadata/instance": N}}
 *   DELETE /_emulator/requests   reset the counters
 *   GET    /_emulator/fixture    the fixture in force
 *   PUT    /_emulator/fixture    replace the fixture (JSON body), or ?name=spot for a built-in one
 *   GET    /_emulator/scheduledevents              the scheduled events document
 *   PUT    /_emulator/scheduledevents              publish a new list ({"Events": [...]})
 *   POST   /_emulator/scheduledevents/<id>/start   the platform starts the event
 *   DELETE /_emulator/scheduledevents/<id>         the platform cancels (or finishes) the event
 */
export interface ControlTarget {
  faultPlan(): ResolvedFaultPlan;
  setFaults(plan: unknown): void;
  requests(): { total: number; byPath: Record<string, number> };
  resetCounters(): void;
  fixture(): Fixture;
  setFixture(fixture: string | object): void;
  scheduledEvents(): ScheduledEvents;
}

export const CONTROL_PREFIX = '/_emulator';

export function control(target: ControlTarget, method: string, url: URL, body: Buffer): Answer {
  const route = url.pathname.slice(CONTROL_PREFIX.length).replace(/\/+$/, '');
  switch (route) {
    case '/faults':
      if (method === 'GET') return json(200, target.faultPlan());
      if (method === 'DELETE') return apply(() => target.setFaults({}));
      if (method === 'POST' || method === 'PUT') {
        const parsed = parseBody(body);
        return 'answer' in parsed ? parsed.answer : apply(() => target.setFaults(parsed.value));
      }
      return methodNotAllowed('GET, POST, PUT, DELETE');
    case '/requests':
      if (method === 'GET') return json(200, target.requests());
      if (method === 'DELETE') return apply(() => target.resetCounters());
      return methodNotAllowed('GET, DELETE');
    case '/fixture': {
      if (method === 'GET') {
        const { instance, scheduledEvents } = target.fixture();
        return json(200, scheduledEvents ? { ...instance, scheduledEvents } : instance);
      }
      if (method !== 'PUT' && method !== 'POST') return methodNotAllowed('GET, PUT, POST');
      const name = url.searchParams.get('name');
      if (name !== null) {
        if (!isFixtureName(name)) return error(400, `unknown fixture "${name}"; built-in fixtures: ${FIXTURE_NAMES.join(', ')}`);
        return apply(() => target.setFixture(name));
      }
      const parsed = parseBody(body);
      if ('answer' in parsed) return parsed.answer;
      const document = parsed.value;
      if (typeof document !== 'object' || document === null || Array.isArray(document)) {
        return error(400, 'the body must be a fixture: a JSON object such as {"compute": {...}, "network": {...}}');
      }
      return apply(() => target.setFixture(document));
    }
    default:
      if (route === '/scheduledevents' || route.startsWith('/scheduledevents/')) return scheduledEventsControl(target.scheduledEvents(), method, route, body);
      return error(404, `no control endpoint ${url.pathname}; see ${CONTROL_PREFIX}/faults, ${CONTROL_PREFIX}/requests, ${CONTROL_PREFIX}/fixture, ${CONTROL_PREFIX}/scheduledevents`);
  }
}

function scheduledEventsControl(events: ScheduledEvents, method: string, route: string, body: Buffer): Answer {
  const [, , id, action, ...rest] = route.split('/').map(decodeURIComponent);
  if (id === undefined) {
    if (method === 'GET') return json(200, events.document());
    if (method !== 'PUT' && method !== 'POST') return methodNotAllowed('GET, PUT, POST');
    const parsed = parseBody(body);
    if ('answer' in parsed) return parsed.answer;
    const list = replaceEventsSchema.safeParse(parsed.value);
    if (!list.success) return error(400, `the body must be {"Events": [...]}, each event with an EventId: ${list.error.issues[0]?.message ?? 'invalid'}`);
    events.replace(list.data.Events);
    return empty(204);
  }
  if (rest.length > 0 || (action !== undefined && action !== 'start')) return error(404, `no control endpoint ${CONTROL_PREFIX}${route}`);
  if (action === 'start') {
    if (method !== 'POST') return methodNotAllowed('POST');
    return events.start(id) ? empty(204) : error(404, `no scheduled event "${id}"`);
  }
  if (method !== 'DELETE') return methodNotAllowed('DELETE');
  return events.cancel([id]).length > 0 ? empty(204) : error(404, `no scheduled event "${id}"`);
}

function parseBody(body: Buffer): { value: unknown } | { answer: Answer } {
  try {
    return { value: JSON.parse(body.toString('utf8')) };
  } catch (err) {
    return { answer: error(400, `the body is not JSON: ${(err as Error).message}`) };
  }
}

function apply(change: () => void): Answer {
  try {
    change();
    return empty(204);
  } catch (err) {
    if (err instanceof FaultPlanError) return error(400, err.message, err.field === undefined ? {} : { field: err.field });
    if (err instanceof FixtureError) return error(400, err.message);
    throw err;
  }
}
