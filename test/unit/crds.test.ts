// The CRD files, the registry that loads them and the validation every write goes through.
import { mkdtemp, readFile, readdir, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { compileRule } from '../../crds/cel.ts';
import { parseDuration } from '../../crds/duration.ts';
import { CrdKinds } from '../../crds/kinds.ts';
import { CrdRegistry } from '../../crds/registry.ts';
import type { Resource } from '../../crds/resource.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CRDS = path.join(ROOT, 'crds');
const EXAMPLES = path.join(ROOT, 'manifests/examples');
const API = 'gantry.dev/v1alpha1';

let reg: CrdRegistry;
beforeAll(() => {
  reg = CrdRegistry.loadSync();
});

const obj = (kind: string, spec: unknown, meta: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Resource =>
  ({ apiVersion: API, kind, metadata: { name: 'x', ...meta }, spec, ...extra }) as Resource;

/** Minimal valid objects of each kind; cases below break one thing at a time. */
const minimal = (): Record<string, Resource> => ({
  ServerTemplate: obj('ServerTemplate', { image: 'gantry-test/gameserver:1', startCommand: '/gameserver.sh' }),
  GameServer: obj('GameServer', { templateRef: 'testgame' }, { namespace: 'default' }),
  GameNode: obj('GameNode', { address: '127.0.0.1' }),
  Backup: obj('Backup', { serverRef: 'example' }, { namespace: 'default' }),
  Restore: obj('Restore', { serverRef: 'example', backupRef: 'b1' }, { namespace: 'default' }),
  Schedule: obj('Schedule', { serverRef: 'example', schedule: '0 4 * * *', steps: [{ action: 'restart' }] }, { namespace: 'default' }),
  AlertRule: obj('AlertRule', { type: 'server_crashed' }),
});

describe('CRD files', () => {
  it('load, one per kind, with scope, short names, status subresource and printer columns', () => {
    const byKind = Object.fromEntries(reg.kinds().map((k) => [k.kind, k]));
    expect(Object.keys(byKind).sort()).toEqual(['AlertRule', 'Backup', 'GameNode', 'GameServer', 'Restore', 'Schedule', 'ServerTemplate']);
    const expected: Record<string, [string, string[]]> = {
      ServerTemplate: ['Cluster', ['st', 'tmpl']],
      GameServer: ['Namespaced', ['gs']],
      GameNode: ['Cluster', ['gn']],
      Backup: ['Namespaced', ['bk']],
      Restore: ['Namespaced', ['rst']],
      Schedule: ['Namespaced', ['sched']],
      AlertRule: ['Cluster', ['ar']],
    };
    for (const [kind, [scope, shortNames]] of Object.entries(expected)) {
      const info = byKind[kind];
      expect(info).toMatchObject({ scope, shortNames, group: 'gantry.dev', version: 'v1alpha1', apiVersion: API, hasStatusSubresource: true });
      expect(info.plural).toBe(`${kind.toLowerCase()}s`);
      expect(info.singular).toBe(kind.toLowerCase());
      expect(info.printerColumns.length).toBeGreaterThan(0);
      expect(info.printerColumns.some((c) => c.name === 'Age' && c.type === 'date' && c.jsonPath === '.metadata.creationTimestamp')).toBe(true);
    }
    const gsColumns = byKind.GameServer.printerColumns.filter((c) => !c.priority).map((c) => `${c.name}=${c.jsonPath}`);
    expect(gsColumns).toEqual(['Phase=.status.phase', 'Node=.status.nodeName', 'Template=.spec.templateRef', 'State=.spec.state', 'Age=.metadata.creationTimestamp']);
  });

  it('are real CustomResourceDefinitions, each file holding one, named after its kind', async () => {
    const files = (await readdir(CRDS)).filter((f) => f.endsWith('.yaml')).sort();
    expect(files).toEqual(['alertrule.yaml', 'backup.yaml', 'gamenode.yaml', 'gameserver.yaml', 'restore.yaml', 'schedule.yaml', 'servertemplate.yaml']);
    for (const f of files) {
      const docs = parseAllDocuments(await readFile(path.join(CRDS, f), 'utf8'));
      expect(Array.isArray(docs) && docs.length).toBe(1);
      const crd = (docs as { toJS(): any }[])[0].toJS();
      expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
      expect(`${crd.spec.names.singular}.yaml`).toBe(f);
      expect(crd.metadata.name).toBe(`${crd.spec.names.plural}.gantry.dev`);
      expect(crd.spec.versions[0].subresources).toEqual({ status: {} });
    }
    const defs = reg.definitions() as any[];
    expect(defs.map((d) => d.spec.names.kind).sort()).toEqual(reg.kinds().map((k) => k.kind).sort());
    defs[0].spec.names.kind = 'Mutated';
    expect((reg.definitions() as any[])[0].spec.names.kind).not.toBe('Mutated');
  });

  it('load asynchronously to the same kinds', async () => {
    const a = await CrdRegistry.load();
    expect(a.kinds()).toEqual(reg.kinds());
  });

  it('CrdKinds (the CLI\'s: no validators) reads the same kinds, names and printer columns', () => {
    const kinds = CrdKinds.loadSync();
    expect(kinds.kinds()).toEqual(reg.kinds());
    expect(kinds.resolve('gs')).toEqual(reg.resolve('gs'));
    expect('validate' in kinds).toBe(false);
  });
});

describe('resolve and get', () => {
  it('resolves kind, plural, singular and short names in any case', () => {
    for (const n of ['gs', 'GS', 'gameservers', 'GameServers', 'gameserver', 'GameServer', 'gameservers.gantry.dev', 'gs.v1alpha1.gantry.dev']) {
      expect(reg.resolve(n)?.kind, n).toBe('GameServer');
    }
    expect(reg.resolve('tmpl')?.kind).toBe('ServerTemplate');
    expect(reg.resolve('st')?.kind).toBe('ServerTemplate');
    expect(reg.resolve('sched')?.kind).toBe('Schedule');
    expect(reg.resolve('rst')?.kind).toBe('Restore');
    expect(reg.resolve('bk')?.kind).toBe('Backup');
    expect(reg.resolve('ar')?.kind).toBe('AlertRule');
    expect(reg.resolve('gn')?.kind).toBe('GameNode');
    expect(reg.resolve('pods')).toBeUndefined();
    expect(reg.resolve('')).toBeUndefined();
  });
  it('gets by exact kind only', () => {
    expect(reg.get('GameServer')?.plural).toBe('gameservers');
    expect(reg.get('gameserver')).toBeUndefined();
  });
});

describe('defaults', () => {
  it('are applied in place, nested ones included', () => {
    const m = minimal();
    for (const o of Object.values(m)) expect(reg.validate(o), o.kind).toEqual([]);
    expect(m.GameServer.spec).toEqual({
      templateRef: 'testgame', state: 'Stopped', suspended: false, networkMode: 'bridge',
      restartPolicy: { policy: 'on-failure', maxCrashCount: 5 }, stopTimeoutSeconds: 30, keepDataOnDelete: false,
    });
    expect(m.ServerTemplate.spec).toMatchObject({
      stop: { type: 'command', value: 'stop' }, dataPath: '/data', resources: { memoryMb: 1024, cpuCores: 1, diskMb: 10240 },
    });
    expect(m.GameNode.spec).toMatchObject({ portRange: { start: 27000, end: 28000 }, bindAddress: '0.0.0.0', unschedulable: false });
    expect(m.Schedule.spec).toMatchObject({ timeZone: 'UTC', suspend: false, concurrencyPolicy: 'Forbid', steps: [{ action: 'restart', delaySeconds: 0, continueOnFailure: false }] });
    expect(m.AlertRule.spec).toMatchObject({ severity: 'warning', enabled: true, cooldownSeconds: 300 });
    expect(m.Restore.spec).toMatchObject({ truncate: false });
  });

  it('fill list items and sub-objects without overriding given values', () => {
    const gs = obj('GameServer', {
      templateRef: 't', state: 'Running', restartPolicy: { policy: 'always' },
      ports: [{ containerPort: 25565 }, { containerPort: 25565, protocol: 'UDP', primary: true }],
    });
    expect(reg.validate(gs)).toEqual([]);
    expect(gs.spec).toMatchObject({
      state: 'Running', restartPolicy: { policy: 'always', maxCrashCount: 5 },
      ports: [{ containerPort: 25565, protocol: 'TCP', primary: false }, { containerPort: 25565, protocol: 'UDP', primary: true }],
    });
    const t = obj('ServerTemplate', { image: 'i', startCommand: 's', install: { script: 'true' }, variables: [{ name: 'A' }], resources: { memoryMb: 512 } });
    expect(reg.validate(t)).toEqual([]);
    expect(t.spec).toMatchObject({
      install: { script: 'true', entrypoint: '/bin/sh' },
      variables: [{ name: 'A', required: false, userEditable: true, userViewable: true }],
      resources: { memoryMb: 512, cpuCores: 1, diskMb: 10240 },
    });
    const a = obj('AlertRule', { type: 'resource_threshold', condition: { metric: 'cpu', operator: '>', value: 90 }, actions: [{ url: 'https://example.com/hook' }] });
    expect(reg.validate(a)).toEqual([]);
    expect(a.spec).toMatchObject({ condition: { durationSeconds: 0 }, actions: [{ type: 'webhook', format: 'generic' }] });
  });

  it('treat null as not set, like the apiserver (an empty `environment:` in YAML)', () => {
    const gs = obj('GameServer', { templateRef: 't', environment: null, restartPolicy: null, resources: { memoryMb: null } }, { labels: null });
    expect(reg.validate(gs)).toEqual([]);
    expect(gs.spec).not.toHaveProperty('environment');
    expect(gs.spec).toMatchObject({ restartPolicy: { policy: 'on-failure' }, resources: {} });
    expect(reg.validate(obj('GameServer', null))).toEqual([{ field: 'spec', message: 'Required value' }]);
  });
});

describe('invalid objects', () => {
  type Case = [name: string, kind: string, edit: (o: any) => void, field: string, message: string | RegExp];
  const cases: Case[] = [
    // GameServer
    ['port above range', 'GameServer', (o) => (o.spec.ports = [{ containerPort: 25565, hostPort: 70000 }]), 'spec.ports[0].hostPort', 'must be <= 65535'],
    ['port zero', 'GameServer', (o) => (o.spec.ports = [{ containerPort: 0 }]), 'spec.ports[0].containerPort', 'must be >= 1'],
    ['unknown protocol', 'GameServer', (o) => (o.spec.ports = [{ containerPort: 1, protocol: 'SCTP' }]), 'spec.ports[0].protocol', 'must be one of TCP, UDP'],
    ['duplicate port', 'GameServer', (o) => (o.spec.ports = [{ containerPort: 1 }, { containerPort: 2 }, { containerPort: 1, protocol: 'TCP' }]), 'spec.ports[2]', 'Duplicate value: containerPort=1, protocol=TCP (also at [0])'],
    ['bad state', 'GameServer', (o) => (o.spec.state = 'Started'), 'spec.state', 'must be one of Running, Stopped'],
    ['no templateRef', 'GameServer', (o) => delete o.spec.templateRef, 'spec.templateRef', 'Required value'],
    ['no spec', 'GameServer', (o) => delete o.spec, 'spec', 'Required value'],
    ['unknown spec field', 'GameServer', (o) => (o.spec.foo = 1), 'spec.foo', 'unknown field'],
    ['typo in a nested field', 'GameServer', (o) => (o.spec.resources = { memroyMb: 512 }), 'spec.resources.memroyMb', 'unknown field'],
    ['unknown top-level field', 'GameServer', (o) => (o.specs = {}), 'specs', 'unknown field'],
    ['unknown status field', 'GameServer', (o) => (o.status = { phase: 'running', bogus: true }), 'status.bogus', 'unknown field'],
    ['memory too small', 'GameServer', (o) => (o.spec.resources = { memoryMb: 1 }), 'spec.resources.memoryMb', 'must be >= 64'],
    ['fractional memory', 'GameServer', (o) => (o.spec.resources = { memoryMb: 100.5 }), 'spec.resources.memoryMb', 'must be integer, not number'],
    ['cpu too small', 'GameServer', (o) => (o.spec.resources = { cpuCores: 0.05 }), 'spec.resources.cpuCores', 'must be >= 0.1'],
    ['stop timeout too long', 'GameServer', (o) => (o.spec.stopTimeoutSeconds = 4000), 'spec.stopTimeoutSeconds', 'must be <= 3600'],
    ['negative crash count', 'GameServer', (o) => (o.spec.restartPolicy = { maxCrashCount: -1 }), 'spec.restartPolicy.maxCrashCount', 'must be >= 0'],
    ['bad restart policy', 'GameServer', (o) => (o.spec.restartPolicy = { policy: 'sometimes' }), 'spec.restartPolicy.policy', 'must be one of always, on-failure, never'],
    ['bad network mode', 'GameServer', (o) => (o.spec.networkMode = 'nat'), 'spec.networkMode', 'must be one of bridge, host, none'],
    ['unquoted number in environment', 'GameServer', (o) => (o.spec.environment = { SERVER_PORT: 25565 }), 'spec.environment.SERVER_PORT', 'must be string, not number'],
    ['bad trigger time', 'GameServer', (o) => (o.spec.restartedAt = 'yesterday'), 'spec.restartedAt', /RFC 3339 date-time/],
    ['templateRef not a name', 'GameServer', (o) => (o.spec.templateRef = 'Test Game'), 'spec.templateRef', /must match pattern/],
    ['empty image', 'GameServer', (o) => (o.spec.image = ''), 'spec.image', 'must not be empty'],
    ['bad phase', 'GameServer', (o) => (o.status = { phase: 'Running' }), 'status.phase', /must be one of stopped, installing/],
    ['bad condition status', 'GameServer', (o) => (o.status = { conditions: [{ type: 'Ready', status: 'yes' }] }), 'status.conditions[0].status', 'must be one of True, False, Unknown'],
    ['duplicate condition', 'GameServer', (o) => (o.status = { conditions: [{ type: 'Ready', status: 'True' }, { type: 'Ready', status: 'False' }] }), 'status.conditions[1]', /Duplicate value: type=Ready/],
    ['spec is a list', 'GameServer', (o) => (o.spec = []), 'spec', 'must be object, not array'],
    // ServerTemplate
    ['no image', 'ServerTemplate', (o) => delete o.spec.image, 'spec.image', 'Required value'],
    ['lowercase variable', 'ServerTemplate', (o) => (o.spec.variables = [{ name: 'motd' }]), 'spec.variables[0].name', 'must match pattern "^[A-Z_][A-Z0-9_]*$"'],
    ['duplicate variable', 'ServerTemplate', (o) => (o.spec.variables = [{ name: 'A' }, { name: 'A' }]), 'spec.variables[1]', /Duplicate value: name=A/],
    ['default against its pattern', 'ServerTemplate', (o) => (o.spec.variables = [{ name: 'P', default: 'abc', pattern: '^[0-9]+$' }]), 'spec.variables[0].default', 'default does not match pattern'],
    ['signal stop without a signal', 'ServerTemplate', (o) => (o.spec.stop = { type: 'signal' }), 'spec.stop.value', /signal name such as SIGTERM/],
    ['bad stop type', 'ServerTemplate', (o) => (o.spec.stop = { type: 'kill' }), 'spec.stop.type', 'must be one of command, signal'],
    ['relative dataPath', 'ServerTemplate', (o) => (o.spec.dataPath = 'data'), 'spec.dataPath', 'must match pattern "^/"'],
    ['bad parser', 'ServerTemplate', (o) => (o.spec.configFiles = [{ path: 'a.toml', parser: 'toml', replace: {} }]), 'spec.configFiles[0].parser', 'must be one of properties, json, yaml, ini, file'],
    ['install without script', 'ServerTemplate', (o) => (o.spec.install = { image: 'alpine' }), 'spec.install.script', 'Required value'],
    ['duplicate feature', 'ServerTemplate', (o) => (o.spec.features = ['eula', 'eula']), 'spec.features[1]', /Duplicate value: "eula"/],
    // GameNode
    ['no address', 'GameNode', (o) => delete o.spec.address, 'spec.address', 'Required value'],
    ['inverted port range', 'GameNode', (o) => (o.spec.portRange = { start: 28000, end: 27000 }), 'spec.portRange', 'start must not be greater than end'],
    ['port range end too big', 'GameNode', (o) => (o.spec.portRange = { start: 1, end: 70000 }), 'spec.portRange.end', 'must be <= 65535'],
    ['bad node phase', 'GameNode', (o) => (o.status = { phase: 'Ready' }), 'status.phase', 'must be one of Online, Offline, Unknown'],
    // Backup / Restore
    ['bad ttl', 'Backup', (o) => (o.spec.ttl = '1 week'), 'spec.ttl', /must match pattern/],
    ['bad sha256', 'Backup', (o) => (o.status = { sha256: 'xyz' }), 'status.sha256', /must match pattern/],
    ['bad backup phase', 'Backup', (o) => (o.status = { phase: 'done' }), 'status.phase', 'must be one of pending, in_progress, completed, failed'],
    ['restore without backup', 'Restore', (o) => delete o.spec.backupRef, 'spec.backupRef', 'Required value'],
    // Schedule
    ['4-field cron', 'Schedule', (o) => (o.spec.schedule = '0 4 * *'), 'spec.schedule', /must match pattern/],
    ['6-field cron', 'Schedule', (o) => (o.spec.schedule = '0 0 4 * * *'), 'spec.schedule', /must match pattern/],
    ['no steps', 'Schedule', (o) => (o.spec.steps = []), 'spec.steps', 'must have at least 1 item'],
    ['unknown action', 'Schedule', (o) => (o.spec.steps = [{ action: 'reboot' }]), 'spec.steps[0].action', 'must be one of start, stop, restart, kill, backup, command'],
    ['command without payload', 'Schedule', (o) => (o.spec.steps = [{ action: 'restart' }, { action: 'command' }]), 'spec.steps[1].payload', 'a command step needs the console command in payload'],
    ['negative delay', 'Schedule', (o) => (o.spec.steps = [{ action: 'stop', delaySeconds: -5 }]), 'spec.steps[0].delaySeconds', 'must be >= 0'],
    ['keep zero backups', 'Schedule', (o) => (o.spec.backupRetention = { keep: 0 }), 'spec.backupRetention.keep', 'must be >= 1'],
    ['bad concurrency', 'Schedule', (o) => (o.spec.concurrencyPolicy = 'Queue'), 'spec.concurrencyPolicy', 'must be one of Allow, Forbid, Replace'],
    ['bad time zone', 'Schedule', (o) => (o.spec.timeZone = 'UTC+2 hours'), 'spec.timeZone', /must match pattern/],
    // AlertRule
    ['bad operator', 'AlertRule', (o) => Object.assign(o.spec, { type: 'resource_threshold', condition: { metric: 'cpu', operator: '=>', value: 1 } }), 'spec.condition.operator', 'must be one of >, >=, <, <=, =='],
    ['threshold without condition', 'AlertRule', (o) => (o.spec.type = 'resource_threshold'), 'spec.condition', 'condition is required when type is resource_threshold'],
    ['node_offline on a server', 'AlertRule', (o) => Object.assign(o.spec, { type: 'node_offline', target: { kind: 'GameServer', name: 'a' } }), 'spec.target.kind', 'a node_offline rule targets a GameNode'],
    ['namespaced node target', 'AlertRule', (o) => Object.assign(o.spec, { type: 'node_offline', target: { kind: 'GameNode', namespace: 'default' } }), 'spec.target.namespace', /cluster-scoped/],
    ['non-http webhook', 'AlertRule', (o) => (o.spec.actions = [{ url: 'ftp://example.com' }]), 'spec.actions[0].url', /must match pattern/],
    ['bad severity', 'AlertRule', (o) => (o.spec.severity = 'fatal'), 'spec.severity', 'must be one of info, warning, critical'],
    ['bad metric', 'AlertRule', (o) => Object.assign(o.spec, { type: 'resource_threshold', condition: { metric: 'fps', operator: '<', value: 20 } }), 'spec.condition.metric', /must be one of cpu, memory, disk/],
    // metadata, kind, apiVersion
    ['uppercase name', 'GameServer', (o) => (o.metadata.name = 'Bad_Name'), 'metadata.name', /DNS-1123 subdomain/],
    ['long name', 'GameServer', (o) => (o.metadata.name = 'a'.repeat(254)), 'metadata.name', /at most 253 characters/],
    ['no name', 'GameServer', (o) => delete o.metadata.name, 'metadata.name', 'Required value'],
    ['no metadata', 'GameServer', (o) => delete o.metadata, 'metadata', 'Required value'],
    ['bad namespace', 'GameServer', (o) => (o.metadata.namespace = 'Default'), 'metadata.namespace', /DNS-1123 label/],
    ['bad label key', 'GameServer', (o) => (o.metadata.labels = { 'gantry.dev/a b': 'x' }), 'metadata.labels[gantry.dev/a b]', /invalid key/],
    ['bad label prefix', 'GameServer', (o) => (o.metadata.labels = { 'Gantry_Dev/a': 'x' }), 'metadata.labels[Gantry_Dev/a]', /prefix/],
    ['bad label value', 'GameServer', (o) => (o.metadata.labels = { game: 'a b' }), 'metadata.labels[game]', /invalid value "a b"/],
    ['label value not a string', 'GameServer', (o) => (o.metadata.labels = { replicas: 3 }), 'metadata.labels[replicas]', 'must be string, not number'],
    ['annotation not a string', 'GameServer', (o) => (o.metadata.annotations = { note: true }), 'metadata.annotations[note]', 'must be string, not boolean'],
    ['unknown kind', 'GameServer', (o) => (o.kind = 'Spaceship'), 'kind', /unknown kind "Spaceship" \(known: .*GameServer/],
    ['no kind', 'GameServer', (o) => delete o.kind, 'kind', /Required value/],
    ['wrong apiVersion', 'GameServer', (o) => (o.apiVersion = 'gantry.dev/v1'), 'apiVersion', 'must be gantry.dev/v1alpha1 for kind GameServer, not "gantry.dev/v1"'],
  ];

  it.each(cases)('%s', (_name, kind, edit, field, message) => {
    const o = structuredClone(minimal()[kind]);
    edit(o);
    const errors = reg.validate(o);
    const hit = errors.find((e) => e.field === field);
    expect(hit, `no error on ${field}; got ${JSON.stringify(errors)}`).toBeDefined();
    if (typeof message === 'string') expect(hit!.message).toBe(message);
    else expect(hit!.message).toMatch(message);
  });

  it('reports every problem at once', () => {
    const o = obj('GameServer', { state: 'Up', ports: [{ containerPort: 99999 }], bogus: 1 }, { name: 'UPPER' });
    const fields = reg.validate(o).map((e) => e.field).sort();
    expect(fields).toEqual(['metadata.name', 'spec.bogus', 'spec.ports[0].containerPort', 'spec.state', 'spec.templateRef']);
    const wrongVersion = { ...obj('GameServer', { state: 'Up' }), apiVersion: 'gantry.dev/v2' } as Resource;
    expect(reg.validate(wrongVersion).map((e) => e.field)).toEqual(['apiVersion', 'spec.templateRef', 'spec.state']);
  });

  it('accepts valid edge values', () => {
    const gs = obj('GameServer', {
      templateRef: 'a.b-c', resources: { memoryMb: 64, cpuCores: 0.1, diskMb: 0 }, stopTimeoutSeconds: 0,
      ports: [{ containerPort: 65535, hostPort: 0 }], restartedAt: '2026-01-02T03:04:05.123+01:00',
    }, { name: 'a'.repeat(253).replace(/^(.{63})./, '$1.'), labels: { 'gantry.dev/game': 'mc_1.20', empty: '' } });
    expect(reg.validate(gs)).toEqual([]);
    for (const cron of ['*/30 * * * *', '0 0 * * 0', '0 12 1-15/2 JAN,FEB MON-FRI', '5\t4  * * ?']) {
      expect(reg.validate(obj('Schedule', { serverRef: 's', schedule: cron, steps: [{ action: 'backup' }] })), cron).toEqual([]);
    }
    for (const tz of ['UTC', 'Europe/Paris', 'America/Argentina/Buenos_Aires', 'Etc/GMT+5', 'America/Port-au-Prince']) {
      expect(reg.validate(obj('Schedule', { serverRef: 's', schedule: '0 4 * * *', timeZone: tz, steps: [{ action: 'stop' }] })), tz).toEqual([]);
    }
    expect(reg.validate(obj('ServerTemplate', { image: 'i', startCommand: 's', stop: { type: 'signal', value: 'SIGINT' } }))).toEqual([]);
  });

  it('answers a non-object with an error instead of throwing', () => {
    expect(reg.validate(null as never)).toEqual([{ field: '', message: 'must be an object, not null' }]);
  });
});

describe('manifests/examples', () => {
  it('every document of every file validates', async () => {
    const files = (await readdir(EXAMPLES)).filter((f) => /\.ya?ml$/.test(f));
    const kinds = new Set<string>();
    for (const f of files) {
      const docs = parseAllDocuments(await readFile(path.join(EXAMPLES, f), 'utf8'));
      for (const doc of Array.isArray(docs) ? docs : []) {
        expect(doc.errors, f).toEqual([]);
        const o = doc.toJS() as Resource;
        expect(reg.validate(o), `${f}: ${o.kind}/${o.metadata?.name}`).toEqual([]);
        kinds.add(o.kind);
      }
    }
    expect([...kinds].sort()).toEqual(['Backup', 'GameServer', 'Schedule', 'ServerTemplate']);
  });
});

describe('a broken CRD file', () => {
  const withGameServerCrd = async (edit: (text: string) => string) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gantry-crds-'));
    for (const f of await readdir(CRDS)) if (f.endsWith('.yaml')) await copyFile(path.join(CRDS, f), path.join(dir, f));
    const file = path.join(dir, 'gameserver.yaml');
    const text = await readFile(file, 'utf8');
    const edited = edit(text);
    expect(edited).not.toBe(text);
    await writeFile(file, edited);
    return { dir, file };
  };

  const broken: [string, (t: string) => string, RegExp][] = [
    ['YAML syntax error', (t) => t.replace('kind: GameServer', 'kind: [GameServer'), /./],
    ['node without a type', (t) => t.replace('containerId: {type: string, maxLength: 128}', 'containerId: {maxLength: 128}'), /containerId: type is required/],
    ['a default that fails its own schema', (t) => t.replace('default: Stopped', 'default: Paused'), /state: default "Paused" is invalid: .*must be one of Running, Stopped/],
    ['a misspelt keyword', (t) => t.replace('minimum: 64, maximum: 1048576', 'minimun: 64, maximum: 1048576'), /"minimun" is not supported/],
    ['additionalProperties next to properties', (t) => t.replace('restartPolicy:\n                  type: object', 'restartPolicy:\n                  type: object\n                  additionalProperties: {type: string}'), /properties and additionalProperties cannot be used together/],
    ['a look-ahead pattern', (t) => t.replace("pattern: '^\\S+$'", () => "pattern: '^(?!latest)\\S+$'"), /look-around/],
    ['a rule outside the CEL subset', (t) => t.replace('x-kubernetes-list-type: map\n                  x-kubernetes-list-map-keys: [containerPort, protocol]', "x-kubernetes-list-type: map\n                  x-kubernetes-list-map-keys: [containerPort, protocol]\n                  x-kubernetes-validations: [{rule: 'self.all(p, p.containerPort > 0)'}]"), /method all\(\) is not supported/],
    ['a map key that may be missing', (t) => t.replace('x-kubernetes-list-map-keys: [containerPort, protocol]', 'x-kubernetes-list-map-keys: [name]'), /map key name must be required or have a default/],
    ['a wrong CRD name', (t) => t.replace('name: gameservers.gantry.dev', 'name: gs.gantry.dev'), /metadata.name must be gameservers.gantry.dev/],
  ];

  it.each(broken)('%s: loading throws naming the file', async (_name, edit, detail) => {
    const { dir, file } = await withGameServerCrd(edit);
    try {
      let error: Error | undefined;
      try {
        CrdRegistry.loadSync(dir);
      } catch (err) {
        error = err as Error;
      }
      expect(error?.message).toContain(file);
      expect(error?.message).toMatch(detail);
      await expect(CrdRegistry.load(dir)).rejects.toThrow(file);
      // What CrdKinds checks (YAML, names), it refuses the same way.
      if (/YAML|CRD name/.test(_name)) expect(() => CrdKinds.loadSync(dir)).toThrow(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('CEL subset', () => {
  it('evaluates the supported forms', () => {
    const self = { a: 1, b: 2, s: 'SIGTERM', t: { k: 'x' }, list: [1, 2] };
    const yes = ['self.a < self.b', 'self.a <= 1 && self.b >= 2', '!has(self.z) || self.z == 1', "self.s.matches('^SIG[A-Z]+$')", "self.t.k == 'x'",
      'size(self.list) == 2', 'self.list.size() == 2', "self.s.startsWith('SIG') && self.s.endsWith('TERM') && self.s.contains('GT')", '(true || false) && !false', 'self.a != self.b'];
    for (const r of yes) expect(compileRule(r)(self), r).toBe(true);
    expect(compileRule('self.a > self.b')(self)).toBe(false);
    expect(() => compileRule('self.z == 1')(self)).toThrow(/no such key: z/);
    expect(() => compileRule("self.a < 'x'")(self)).toThrow(/cannot compare/);
  });
  it('refuses what it does not support at compile time', () => {
    for (const r of ['self.list.all(x, x > 0)', 'self.a + 1 > 2', 'self.a ? 1 : 2', 'has(self)', 'self.a <']) expect(() => compileRule(r), r).toThrow(/rule/);
  });
  it('reads field names escaped the way the apiserver wants them', () => {
    expect(() => compileRule('has(self.namespace)')).toThrow(/reserved word: write __namespace__/);
    expect(compileRule('has(self.__namespace__)')({ namespace: 'a' })).toBe(true);
    expect(compileRule("self.a__dash__b == 'x' && self.c__dot__d == 1")({ 'a-b': 'x', 'c.d': 1 })).toBe(true);
  });
});

describe('parseDuration', () => {
  it('reads the ttl grammar', () => {
    expect(parseDuration('30m')).toBe(30 * 60_000);
    expect(parseDuration('720h')).toBe(720 * 3_600_000);
    expect(parseDuration('7d')).toBe(7 * 86_400_000);
    expect(parseDuration('1h30m15s500ms')).toBe(3_600_000 + 30 * 60_000 + 15_000 + 500);
    for (const bad of ['', '1', '1w', '1 h', '-1h', 'h']) expect(() => parseDuration(bad), bad).toThrow(/invalid duration/);
  });
});
