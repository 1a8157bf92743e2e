import { test } from 'node:test';
import assert from 'node:assert/strict';
import { childLog, createMemoryLogger, type Logger } from './log.js';

/** A line without its timestamp. */
const strip = (line: string): Record<string, unknown> => {
  const { time: _time, ...rest } = JSON.parse(line) as Record<string, unknown>;
  return rest;
};

test('childLog writes the same lines as a pino child, bindings first', () => {
  const viaPino = createMemoryLogger('debug');
  const viaBound = createMemoryLogger('debug');
  const pinoChild = viaPino.logger.child({ sid: 's1' }).child({ component: 'upstream' });
  const bound = childLog(childLog(viaBound.logger, { sid: 's1' }), { component: 'upstream' });
  for (const log of [pinoChild, bound] as Logger[]) {
    log.info({ to: 'example.com', hold: 1 }, 'session created');
    log.debug('plain message');
    log.trace({ dropped: true }, 'below the level');
    log.warn({ password: 'secret' }, 'redacted field');
  }
  assert.equal(viaBound.lines.length, 3);
  assert.deepEqual(viaBound.lines.map(strip), viaPino.lines.map(strip));
  assert.deepEqual(Object.keys(strip(viaBound.lines[0]!)), ['level', 'name', 'sid', 'component', 'to', 'hold', 'msg']);
  assert.equal(strip(viaBound.lines[2]!).password, '[redacted]');
  assert.equal(bound.isLevelEnabled('debug'), true);
  assert.equal(bound.isLevelEnabled('trace'), false);
});

test('childLog: an Error logs as err with its message', () => {
  const { logger, lines } = createMemoryLogger('info');
  childLog(logger, { link: 1 }).error(new Error('boom'));
  const line = strip(lines[0]!);
  assert.equal(line.link, 1);
  assert.equal(line.msg, 'boom');
  assert.equal((line.err as { message: string }).message, 'boom');
});

test('stdout logger: buffered lines go out within LOG_FLUSH_MS, and at exit even after a crash', async () => {
  const { spawn } = await import('node:child_process');
  const { LOG_FLUSH_MS } = await import('./log.js');
  const script = `
    const { createLogger } = await import(${JSON.stringify(new URL('./log.js', import.meta.url).href)});
    const log = createLogger('info');
    log.info('first');
    log.info('second');
    setTimeout(() => { log.info('last'); throw new Error('crash'); }, ${LOG_FLUSH_MS * 2});
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  const started = Date.now();
  const arrivals: Array<{ msg: string; at: number }> = [];
  let text = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    text += chunk;
    const lines = text.split('\n');
    text = lines.pop()!;
    for (const line of lines) arrivals.push({ msg: (JSON.parse(line) as { msg: string }).msg, at: Date.now() - started });
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 1);
  assert.deepEqual(arrivals.map((a) => a.msg), ['first', 'second', 'last']);
  // The periodic flush: the first lines did not wait for the crash.
  assert.ok(arrivals[1]!.at < LOG_FLUSH_MS * 2 - 200, `second line arrived at ${arrivals[1]!.at} ms`);
});

test('secrets are redacted at the top of a line and one level below; the caller\'s objects stay as they were', () => {
  const { logger, lines } = createMemoryLogger('info');
  const request = { key: 'k1', sid: 's1' };
  const err = Object.assign(new Error('bad'), { password: 'p1' });
  const bound = childLog(logger, { sid: 's1' });
  bound.info({ sharedKey: 'sk', request, err, note: 'kept' }, 'with secrets');
  logger.info({ authorization: 'Basic x', list: [1, 2] }, 'through pino directly');
  logger.child({ password: 'in bindings' }).info('a child with a secret binding');
  const [first, second, third] = lines.map(strip);
  assert.equal(first!.sharedKey, '[redacted]');
  assert.deepEqual(first!.request, { key: '[redacted]', sid: 's1' });
  assert.equal((first!.err as { password: string; message: string }).password, '[redacted]');
  assert.equal((first!.err as { message: string }).message, 'bad');
  assert.equal(first!.note, 'kept');
  assert.equal(second!.authorization, '[redacted]');
  assert.deepEqual(second!.list, [1, 2]);
  assert.equal(third!.password, '[redacted]');
  assert.equal(request.key, 'k1', 'the logged object is not changed');
  assert.equal(err.password, 'p1');
  assert.ok(!lines.join('\n').includes('k1') && !lines.join('\n').includes('p1') && !lines.join('\n').includes('Basic x') && !lines.join('\n').includes('in bindings'));
});
