import { UsageError, type Command, type CommandIO } from '../../src/cli/command.ts';
import { durationFlag, hostFlag, listenError, parseFlags, untilAborted, wholeNumberFlag } from '../../src/cli/flags.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { FaultPlanError } from './faults.ts';
import { FIXTURE_NAMES, FixtureError, fixtureDescription } from './fixtures.ts';
import { startEmulator } from './server.ts';

const DEFAULT_PORT = 8080;

const usage = `Usage: imds-labeler emulator [flags]

Serves an emulation of the Azure Instance Metadata Service (IMDS) over HTTP: the instance
document, route filtering and format=text, api-version rules, the 5 requests/second throttle,
scheduled events and signed attested data, with faults injected on demand. Point the agent at it
with --imds-endpoint http://HOST:PORT. Stops on SIGINT/SIGTERM.

Flags:
  --port PORT          port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)
  --host HOST          address to listen on (default 127.0.0.1)
  --fixture F          built-in fixture name or a JSON/YAML file, re-read when it changes
                       (default "default"; see --list-fixtures)
  --faults FILE        fault plan, YAML or JSON, re-read when it changes
  --rate-limit N       requests per second before 429 (default 5; 0 disables)
  --scheduled-events-warmup D
                       how long the first scheduled-events call waits while the service turns
                       on, e.g. 2m as on Azure (default 0s)
  --list-fixtures      print the built-in fixtures and exit
  -h, --help           this help

Control endpoints (test-only, no Metadata header needed):
  GET|POST|DELETE /_emulator/faults   GET|DELETE /_emulator/requests   GET|PUT /_emulator/fixture
  GET|PUT /_emulator/scheduledevents  POST /_emulator/scheduledevents/ID/start
  DELETE /_emulator/scheduledevents/ID (the platform cancels or finishes the event)

See docs/emulator.md for the fixture and fault plan formats.
`;

export const emulatorCommand: Command = {
  name: 'emulator',
  summary: 'serve a faithful IMDS emulator with fixtures and fault injection',
  usage,
  async run(argv: string[], io: CommandIO): Promise<number> {
    const values = parseFlags(argv, {
      port: { type: 'string' },
      host: { type: 'string' },
      fixture: { type: 'string' },
      faults: { type: 'string' },
      'rate-limit': { type: 'string' },
      'scheduled-events-warmup': { type: 'string' },
      'list-fixtures': { type: 'boolean' },
    });
    if (values.help) {
      io.stdout.write(usage);
      return 0;
    }
    if (values['list-fixtures']) {
      const width = Math.max(...FIXTURE_NAMES.map((n) => n.length)) + 2;
      io.stdout.write(FIXTURE_NAMES.map((n) => `${n.padEnd(width)}${fixtureDescription(n)}\n`).join(''));
      return 0;
    }
    const port = wholeNumberFlag('--port', values.port, DEFAULT_PORT, 65535);
    const rateLimitPerSecond = wholeNumberFlag('--rate-limit', values['rate-limit'], 5, 1_000_000);
    const host = hostFlag(values.host);
    const scheduledEventsWarmupMs = durationFlag('--scheduled-events-warmup', values['scheduled-events-warmup']);

    const logger = createLogger({ level: 'info', format: 'pretty', destination: io.stderr });
    let emulator;
    try {
      emulator = await startEmulator({ port, host, fixture: values.fixture, faults: values.faults, rateLimitPerSecond, scheduledEventsWarmupMs, logger });
    } catch (err) {
      if (err instanceof FaultPlanError) throw new UsageError(`--faults: ${err.message}`);
      if (err instanceof FixtureError) throw new UsageError(`--fixture: ${err.message}`);
      listenError(err, host, port);
    }
    io.stdout.write(
      `IMDS emulator listening on ${emulator.url} (fixture ${values.fixture ?? 'default'}${values.faults ? `, faults ${values.faults}` : ''})\n`,
    );
    await untilAborted(io.signal);
    await emulator.close();
    return 0;
  },
};
