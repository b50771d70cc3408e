// The web panel's logic that needs no browser: routes, search, power buttons per phase, the console
// feed's batching and command history, file paths and modes, sparkline rings, the cron preview, the
// API error messages, and the one translation catalogue (every key used exists, every key is used).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPath, matchPath, resolve } from '../../web/src/lib/router.ts';
import { matches, parseQuery } from '../../web/src/lib/filter.ts';
import { allowedActions, goalOf, toneOf } from '../../web/src/lib/phase.ts';
import { CommandHistory, ConsoleFeed } from '../../web/src/lib/console-feed.ts';
import { baseName, crumbs, isArchive, join, languageOf, modeString, parent, parseMode } from '../../web/src/lib/paths.ts';
import { Ring } from '../../web/src/lib/series.ts';
import { formatPorts, parsePorts } from '../../web/src/lib/ports.ts';
import { nextRuns } from '../../web/src/lib/cron.ts';
import { errorFromResponse } from '../../web/src/api/errors.ts';
import { withQuery } from '../../web/src/api/http.ts';
import { forCommit } from '../../web/src/api/kube.ts';
import { en } from '../../web/src/i18n/en.ts';

const WEB = path.resolve(import.meta.dirname, '../../web/src');

describe('web: routes', () => {
  it('matches patterns with optional params and decodes them', () => {
    expect(matchPath('/servers/:id/:tab?', '/servers/web-a')).toEqual({ id: 'web-a' });
    expect(matchPath('/servers/:id/:tab?', '/servers/a%20b/files')).toEqual({ id: 'a b', tab: 'files' });
    expect(matchPath('/servers/:id/:tab?', '/servers')).toBeUndefined();
    expect(matchPath('/servers/:id/:tab?', '/servers/a/files/extra')).toBeUndefined();
    expect(matchPath('/', '/')).toEqual({});
    expect(matchPath('/servers/:id', '/servers/%E0%A4%A')).toBeUndefined();
    expect(resolve([{ name: 'a', pattern: '/admin/nodes' }, { name: 'b', pattern: '/admin/:x' }], '/admin/nodes')?.name).toBe('a');
    expect(buildPath('/servers/:id/:tab?', { id: 'a/b' })).toBe('/servers/a%2Fb');
  });
});

describe('web: dashboard search', () => {
  const s = { id: 'lobby-1', name: 'Lobby', status: 'running', nodeId: 'node-eu', templateId: 'paper', address: '10.0.0.5:25565' };
  it('free words match any field, field terms narrow', () => {
    expect(matches(s, parseQuery('lobby'))).toBe(true);
    expect(matches(s, parseQuery('10.0.0.5'))).toBe(true);
    expect(matches(s, parseQuery('phase:running node:eu'))).toBe(true);
    expect(matches(s, parseQuery('status:stopped'))).toBe(false);
    expect(matches(s, parseQuery('template:vanilla'))).toBe(false);
    expect(matches(s, parseQuery('lobby survival'))).toBe(false);
    expect(matches(s, parseQuery(''), new Set(['stopped']))).toBe(false);
    expect(matches(s, parseQuery('unknownfield:x'))).toBe(false);
  });
});

describe('web: power buttons follow the phase', () => {
  const table: [string, string, string[]][] = [
    ['stopped', 'stopped', ['start']],
    ['crashed', 'running', ['start', 'stop']],
    ['error', 'stopped', ['start']],
    ['installing', 'running', ['stop', 'kill']],
    ['starting', 'running', ['stop', 'kill']],
    ['running', 'running', ['stop', 'restart', 'kill']],
    ['stopping', 'stopped', ['kill']],
    ['transferring', 'stopped', []],
  ];
  it.each(table)('%s (desired %s) allows %j', (phase, desired, want) => {
    expect([...allowedActions(phase, desired, false)].sort()).toEqual([...want].sort());
  });
  it('nothing on a suspended server; goals and tones', () => {
    expect(allowedActions('running', 'running', true).size).toBe(0);
    expect(goalOf('restart')).toBe('running');
    expect(goalOf('kill')).toBe('stopped');
    expect(toneOf('crashed')).toBe('bad');
    expect(toneOf('starting')).toBe('busy');
    expect(toneOf(undefined)).toBe('idle');
  });
});

describe('web: console feed', () => {
  it('writes everything queued once per frame, in order, dropping nothing', () => {
    const writes: string[] = [];
    const frames: (() => void)[] = [];
    const feed = new ConsoleFeed({ write: (d) => writes.push(d) }, (fn) => frames.push(fn));
    for (let i = 0; i < 5000; i++) feed.push(`line ${i}\n`);
    expect(frames).toHaveLength(1);
    expect(writes).toHaveLength(0);
    frames.shift()!();
    expect(writes).toHaveLength(1);
    const lines = writes[0]!.split('\r\n');
    expect(lines).toHaveLength(5001);
    expect(lines[0]).toBe('line 0');
    expect(lines[4999]).toBe('line 4999');
    feed.push('next\n');
    expect(frames).toHaveLength(1);
    frames.shift()!();
    expect(writes[1]).toBe('next\r\n');
    expect(feed.stats).toEqual({ lines: 5001, writes: 2 });
  });

  it('turns inner newlines into CRLF and marks panel notices', () => {
    const writes: string[] = [];
    const feed = new ConsoleFeed({ write: (d) => writes.push(d) }, (fn) => fn());
    feed.push('a\nb\n');
    feed.notice('3 lines dropped');
    expect(writes).toEqual(['a\r\nb\r\n', '\x1b[33m[panel] 3 lines dropped\x1b[0m\r\n']);
  });

  it('command history walks like a shell', () => {
    const h = new CommandHistory(['say a']);
    h.add('say b');
    h.add('say b');
    h.add('  ');
    expect(h.up()).toBe('say b');
    expect(h.up()).toBe('say a');
    expect(h.up()).toBe('say a');
    expect(h.down()).toBe('say b');
    expect(h.down()).toBe('');
    expect(h.list()).toEqual(['say a', 'say b']);
    const small = new CommandHistory([], 2);
    ['1', '2', '3'].forEach((c) => small.add(c));
    expect(small.list()).toEqual(['2', '3']);
  });
});

describe('web: file paths', () => {
  it('composes and splits paths under /', () => {
    expect(join('/', 'a')).toBe('/a');
    expect(join('/world', '/level.dat')).toBe('/world/level.dat');
    expect(parent('/world/region/')).toBe('/world');
    expect(parent('/a')).toBe('/');
    expect(baseName('/world/level.dat')).toBe('level.dat');
    expect(crumbs('/a/b')).toEqual([{ name: '/', path: '/' }, { name: 'a', path: '/a' }, { name: 'b', path: '/a/b' }]);
  });
  it('modes both ways; bad ones refused', () => {
    expect(modeString(0o755)).toBe('rwxr-xr-x');
    expect(parseMode('644')).toBe(0o644);
    expect(parseMode('0755')).toBe(0o755);
    expect(parseMode('rw-r-----')).toBe(0o640);
    for (const bad of ['888', '7777', 'rwx', '', 'rwxrwxrwz']) expect(parseMode(bad), bad).toBeUndefined();
  });
  it('languages and archives by name', () => {
    expect(languageOf('server.properties')).toBe('properties');
    expect(languageOf('ops.JSON')).toBe('json');
    expect(languageOf('config.yml')).toBe('yaml');
    expect(languageOf('start.sh')).toBe('shell');
    expect(languageOf('README')).toBe('plain');
    expect(isArchive('world.tar.gz')).toBe(true);
    expect(isArchive('world.zip')).toBe(false);
  });
});

describe('web: template form ports', () => {
  it('parses and prints port lists, naming the first bad entry', () => {
    expect(parsePorts('25565, 19132/udp 8080/TCP')).toEqual({ ports: [{ internal: 25565, protocol: 'TCP' }, { internal: 19132, protocol: 'UDP' }, { internal: 8080, protocol: 'TCP' }] });
    expect(parsePorts('')).toEqual({ ports: [] });
    expect(parsePorts('25565, 70000')).toEqual({ bad: '70000' });
    expect(parsePorts('25565/sctp')).toEqual({ bad: '25565/sctp' });
    expect(parsePorts('0')).toEqual({ bad: '0' });
    expect(formatPorts([{ internal: 1, protocol: 'UDP' }, { internal: 2, protocol: 'TCP' }])).toBe('1/UDP, 2/TCP');
  });
});

describe('web: rings, cron preview, errors, YAML for commit', () => {
  it('a ring keeps the newest values in order', () => {
    const r = new Ring(3);
    [1, 2, 3, 4, 5].forEach((v) => r.push(v));
    expect(r.values()).toEqual([3, 4, 5]);
    expect(r.last()).toBe(5);
    expect(new Ring(2).last()).toBeUndefined();
  });

  it('previews the next runs with the controller\'s parser, in the time zone', () => {
    const from = new Date('2026-03-28T12:00:00Z');
    const p = nextRuns('0 4 * * *', 'Europe/Paris', 3, from);
    expect(p.error).toBeUndefined();
    // 04:00 Paris is 03:00Z before the DST switch on March 29, 02:00Z after it.
    expect(p.runs.map((d) => d.toISOString())).toEqual(['2026-03-29T02:00:00.000Z', '2026-03-30T02:00:00.000Z', '2026-03-31T02:00:00.000Z']);
    expect(nextRuns('0 25 * * *', 'UTC').error).toContain('hour: 25 is out of range 0-23');
    expect(nextRuns('* * *', 'UTC').error).toContain('exactly 5 are needed');
    expect(nextRuns('0 4 * * *', 'Mars/Olympus').error).toContain('not a known IANA time zone');
    expect(nextRuns('0 0 30 2 *', 'UTC').error).toContain('never fires');
  });

  it('an answer becomes the API\'s own message, or says what came instead', async () => {
    const res = (status: number, body: string, type: string) => new Response(body, { status, headers: { 'content-type': type } });
    const catalyst = await errorFromResponse(res(409, JSON.stringify({ error: 'Conflict', statusCode: 409, message: 'A server with id "x" exists', reason: 'already_exists' }), 'application/json'));
    expect([catalyst.status, catalyst.message, catalyst.reason]).toEqual([409, 'A server with id "x" exists', 'already_exists']);
    const status = await errorFromResponse(res(422, JSON.stringify({ kind: 'Status', message: 'spec.state: Unsupported value', reason: 'Invalid' }), 'application/json'));
    expect(status.message).toBe('spec.state: Unsupported value');
    expect((await errorFromResponse(res(502, '<html>Bad Gateway</html>', 'text/html'))).message).toBe('HTTP 502');
    expect((await errorFromResponse(res(404, 'not found: /x.png\n', 'text/plain'))).message).toBe('not found: /x.png');
    expect(withQuery('/api/x', { a: 1, b: undefined, c: '', d: 'x y' })).toBe('/api/x?a=1&d=x+y');
  });

  it('the YAML to commit drops what the server manages', () => {
    const obj = { apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'a', namespace: 'default', uid: 'u', resourceVersion: '9', generation: 2, creationTimestamp: 't', labels: { x: 'y' } }, spec: { state: 'Running' }, status: { phase: 'running' } };
    expect(forCommit(obj)).toEqual({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'a', namespace: 'default', labels: { x: 'y' } }, spec: { state: 'Running' } });
  });
});

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (/\.(tsx?|ts)$/.test(e.name) && !p.includes(`${path.sep}i18n${path.sep}`)) out.push(p);
  }
  return out;
}

describe('web: the translation catalogue', () => {
  it('holds every key the sources use, and the sources use every key', async () => {
    const text = (await Promise.all((await sources(WEB)).map((f) => readFile(f, 'utf8')))).join('\n');
    const keys = new Set(Object.keys(en));
    const literal = [...text.matchAll(/\b(?:t|tk)\(\s*'([a-zA-Z0-9_.]+)'/g), ...text.matchAll(/label: '([a-z]+\.[a-zA-Z0-9_.]+)'/g)].map((m) => m[1]!);
    const missing = literal.filter((k) => !keys.has(k));
    expect(missing, 'keys used but not in en.ts').toEqual([]);
    // Keys built at run time: `prefix.${x}` — each prefix must exist, and keys under it count as used.
    const prefixes = [...text.matchAll(/\btk\(`([a-zA-Z0-9_.]+)\.\$\{/g)].map((m) => m[1]! + '.');
    expect(prefixes.length).toBeGreaterThan(5);
    const used = new Set(literal);
    const unused = [...keys].filter((k) => !used.has(k) && !prefixes.some((p) => k.startsWith(p)));
    expect(unused, 'keys in en.ts that nothing uses').toEqual([]);
  });

  it('no user-facing sentence is hard-coded in the pages', async () => {
    const offenders: string[] = [];
    for (const f of await sources(WEB)) {
      if (!f.endsWith('.tsx')) continue;
      const text = await readFile(f, 'utf8');
      // JSX text between tags that contains two words in a row (an English phrase).
      for (const m of text.matchAll(/>\s*([A-Z][a-z]+ [a-z]+[^<{]*)</g)) offenders.push(`${path.relative(WEB, f)}: ${m[1]!.trim()}`);
    }
    expect(offenders).toEqual([]);
  });
});
