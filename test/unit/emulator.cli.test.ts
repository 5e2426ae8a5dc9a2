import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorCommand } from '../../testbed/imds-emulator/command.ts';
import { UsageError, type CommandIO } from '../../src/cli/command.ts';
import { ALL_COMMANDS as COMMANDS } from '../../testbed/commands.ts';
import { FIXTURE_NAMES } from '../../testbed/imds-emulator/fixtures.ts';
import { imds, rawRequest, requestFailure } from '../helpers/emulator.ts';

function fakeIO(signal = new AbortController().signal) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const io: CommandIO = { stdout, stderr, stdin: new PassThrough(), env: {}, signal };
  return { io, out: () => out, err: () => err };
}

/** Resolves with the first line of output that matches. */
function lineMatching(stream: NodeJS.ReadableStream, pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = buffered.match(pattern);
      if (match) {
        stream.off('data', onData);
        resolve(match);
      }
    };
    stream.on('data', onData);
  });
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'emulator-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('imds-labeler emulator', () => {
  it('is the registered emulator command', async () => {
    expect(await COMMANDS.emulator!.load()).toBe(emulatorCommand);
    expect(emulatorCommand.name).toBe('emulator');
  });

  it('--help prints the usage with every flag', async () => {
    const { io, out } = fakeIO();
    expect(await emulatorCommand.run(['--help'], io)).toBe(0);
    for (const flag of ['--port', '--host', '--fixture', '--faults', '--list-fixtures', '--rate-limit']) expect(out()).toContain(flag);
    expect(emulatorCommand.usage).toBe(out());
  });

  it('--list-fixtures prints every built-in fixture', async () => {
    const { io, out } = fakeIO();
    expect(await emulatorCommand.run(['--list-fixtures'], io)).toBe(0);
    const names = out().trim().split('\n').map((line) => line.split(/\s+/)[0]);
    expect(names).toEqual(FIXTURE_NAMES);
  });

  it.each<[string, string[], RegExp]>([
    ['an unknown flag', ['--prot', '80'], /--prot/],
    ['a positional argument', ['serve'], /serve/],
    ['a port that is not a number', ['--port', 'http'], /--port: expected a whole number/],
    ['a port out of range', ['--port', '70000'], /--port/],
    ['a negative rate limit', ['--rate-limit', '-1'], /--rate-limit/],
    ['a missing flag value', ['--fixture'], /--fixture/],
    ['an unknown fixture', ['--port', '0', '--fixture', 'nope'], /--fixture: fixture "nope" is neither a built-in fixture/],
    ['a missing faults file', ['--port', '0', '--faults', '/nonexistent/faults.yaml'], /--faults: cannot read faults file/],
  ])('%s is a usage error', async (_name, argv, message) => {
    const { io } = fakeIO();
    const run = emulatorCommand.run(argv, io);
    await expect(run).rejects.toThrow(UsageError);
    await expect(run).rejects.toThrow(message);
  });

  it('a bad fault plan is a usage error naming the field', async () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'faults:\n  - path: /metadata/instance\n    statuses: [429, "soon"]\n');
    const { io } = fakeIO();
    await expect(emulatorCommand.run(['--port', '0', '--faults', path], io)).rejects.toThrow(/faults\[0\]\.statuses\[1\]/);
  });

  it('serves until the signal aborts, then closes and returns 0', async () => {
    const faults = join(dir, 'faults.yaml');
    writeFileSync(faults, 'faults:\n  - path: /metadata/instance/compute\n    statuses: [503]\n');
    const controller = new AbortController();
    const { io } = fakeIO(controller.signal);
    const listening = lineMatching(io.stdout as PassThrough, /listening on (http:\/\/127\.0\.0\.1:\d+) \(fixture spot, faults .*faults\.yaml\)\n/);
    const run = emulatorCommand.run(['--port', '0', '--fixture', 'spot', '--faults', faults, '--rate-limit', '0'], io);
    const url = (await listening)[1]!;

    expect((await imds(url, '/metadata/instance/compute/priority?api-version=2021-02-01&format=text')).status).toBe(503);
    const res = await imds(url, '/metadata/instance/compute/priority?api-version=2021-02-01&format=text');
    expect(res.body).toBe('Spot');
    expect(JSON.parse((await rawRequest(`${url}/_emulator/requests`)).body).total).toBe(2);

    controller.abort();
    expect(await run).toBe(0);
    expect((await requestFailure(imds(url, '/metadata/versions'))).code).toBe('ECONNREFUSED');
  });

  it('returns at once when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const { io, out } = fakeIO(controller.signal);
    expect(await emulatorCommand.run(['--port', '0'], io)).toBe(0);
    expect(out()).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+ \(fixture default\)/);
  });
});
