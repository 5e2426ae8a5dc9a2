/** The IMDS emulator: a faithful stand-in for Azure's Instance Metadata Service, with faults. */
export { startEmulator, type Emulator, type EmulatorOptions, type RequestCounts } from './server.ts';
export { FaultPlanError, parseFaultPlan, type FaultPlan, type FaultSpec, type ResolvedFaultPlan } from './faults.ts';
export { FIXTURE_NAMES, FixtureError, builtInFixture, fixtureDescription, isFixtureName, type FixtureName } from './fixtures.ts';
export { SCHEDULED_EVENTS_API_VERSIONS, type ScheduledEventsDocument } from './scheduledEvents.ts';
export { ATTESTED_COMMON_NAME } from './attested.ts';
