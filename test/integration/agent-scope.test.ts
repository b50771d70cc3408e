// Two agents' runtimes on one real Docker engine (two GameNodes on one machine): each labels its
// containers with its node (agent/runtime/scope.ts) and lists, adopts, watches, counts and removes
// only its own — a second agent's adopt() must neither adopt the first one's servers nor remove its
// install container mid-install. A container made before node labels existed (no gantry.dev/node) is
// claimed by the agent whose servers root holds its data dir, and by no other.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { DockerRuntime, ServerNotFoundError } from '../../agent/runtime/docker-runtime.ts';
import { EventWatcher, type ObservedContainer } from '../../agent/runtime/events.ts';
import { HealthReporter } from '../../agent/runtime/health.ts';
import { LABEL_NODE, type ContainerSpec } from '../../agent/runtime/spec.ts';
import { until } from '../helpers/wait.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const IMAGE = 'gantry-test/gameserver:1';
const RUN_ID = randomUUID().slice(0, 8);
const SCOPE = { 'gantry.test': '1', 'gantry.test.run': RUN_ID };
const NODE_A = `scope-a-${RUN_ID}`;
const NODE_B = `scope-b-${RUN_ID}`;
const docker = new Docker();
const log = createLogger({ test: 'agent-scope' }, 'warn');

let rootA = '';
let rootB = '';
let work = '';

const runtime = (root: string, nodeName: string | undefined, suffix: string) =>
  new DockerRuntime({ docker, dataRoot: root, workDir: work, log, policy: { extraLabels: SCOPE, namePrefix: `gantry-test-${RUN_ID}-${suffix}`, ...(nodeName ? { nodeName } : {}) } });

function spec(root: string, name: string): ContainerSpec {
  const serverUid = randomUUID();
  return { serverUid, name, namespace: 'scope', image: IMAGE, command: ['/gameserver.sh'], env: { SERVER_PORT: 'none' }, dataDir: path.join(root, 'scope', name), dataPath: '/data', memoryMb: 64, stop: { type: 'command', value: 'stop' }, stopTimeoutSeconds: 10 };
}

const containersOf = async (uid: string, role = 'server') => docker.listContainers({ all: true, filters: { label: [`gantry.dev/server-uid=${uid}`, `gantry.dev/role=${role}`] } });

describe('two agents on one Docker engine', () => {
  let a: DockerRuntime;
  let b: DockerRuntime;
  let watcherB: EventWatcher;
  const seenByB: ObservedContainer[] = [];

  beforeAll(async () => {
    await run('bash', [path.join(ROOT, 'test/images/build.sh')], { timeout: 120_000 });
    rootA = await mkdtemp(path.join(os.tmpdir(), 'gantry-scope-a-'));
    rootB = await mkdtemp(path.join(os.tmpdir(), 'gantry-scope-b-'));
    work = await mkdtemp(path.join(os.tmpdir(), 'gantry-scope-work-'));
    a = runtime(rootA, NODE_A, 'a');
    b = runtime(rootB, NODE_B, 'b');
    watcherB = new EventWatcher({ docker, scope: b.scope, log });
    watcherB.on('state', (s) => seenByB.push(s));
    await watcherB.start();
  });

  afterAll(async () => {
    watcherB?.stop();
    a?.close();
    b?.close();
    const list = await docker.listContainers({ all: true, filters: { label: [`gantry.test.run=${RUN_ID}`] } }).catch(() => []);
    for (const c of list) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {});
    for (const d of [rootA, rootB, work]) if (d) await rm(d, { recursive: true, force: true });
  });

  it('never adopts, inspects, watches, counts or removes the other agent\'s containers', async () => {
    const x = spec(rootA, 'x');
    await a.create(x);
    await a.start(x.serverUid);
    expect((await containersOf(x.serverUid))[0]!.Labels[LABEL_NODE]).toBe(NODE_A);

    // An install of A's, held open until the test lets it finish.
    const y = spec(rootA, 'y');
    const gate = path.join(y.dataDir, 'go');
    const installing = a.install(y, { image: IMAGE, script: 'while [ ! -f /mnt/server/go ]; do sleep 0.1; done; echo done > /mnt/server/installed' });
    await until('A\'s install container', async () => (await containersOf(y.serverUid, 'install')).length === 1, 30_000);

    // B starting up on the same engine: adopts nothing of A's, leaves A's install container alone.
    expect(await b.adopt()).toEqual([]);
    expect(await b.list()).toEqual([]);
    expect(await containersOf(y.serverUid, 'install')).toHaveLength(1);
    expect(await b.inspect(x.serverUid)).toBeUndefined();
    await expect(b.stop(x.serverUid)).rejects.toBeInstanceOf(ServerNotFoundError);
    expect(await b.remove(x.serverUid, { removeData: true, dataDir: path.join(rootB, 'scope', 'x') })).toEqual({ removed: false, dataRemoved: true });
    expect((await containersOf(x.serverUid))[0]!.State).toBe('running');

    // A's container changing state is not an event of B's.
    await a.stop(x.serverUid);
    await a.start(x.serverUid);
    expect((await a.list()).map((o) => o.uid)).toEqual([x.serverUid]);
    const health = await new HealthReporter({ docker, scope: b.scope }).report();
    expect(health.containers.gantry).toBe(0);
    expect((await new HealthReporter({ docker, scope: a.scope }).report()).containers.gantry).toBe(1);

    await writeFile(gate, '');
    expect((await installing).exitCode).toBe(0);
    expect(await containersOf(y.serverUid, 'install')).toHaveLength(0);

    // B's own server, beside A's: each sees exactly its own.
    const z = spec(rootB, 'z');
    await b.create(z);
    expect((await b.list()).map((o) => o.uid)).toEqual([z.serverUid]);
    expect((await a.list()).map((o) => o.uid)).toEqual([x.serverUid]);
    await until('B watching its own container', () => seenByB.some((s) => s.uid === z.serverUid));
    await watcherB.idle();
    expect(seenByB.filter((s) => s.uid !== z.serverUid)).toEqual([]);
  }, 120_000);

  it('a container without a node label (made before scoping) belongs to the agent holding its data dir', async () => {
    const legacy = spec(rootA, 'legacy');
    await runtime(rootA, undefined, 'legacy').create(legacy);
    const [c] = await containersOf(legacy.serverUid);
    expect(c!.Labels[LABEL_NODE]).toBeUndefined();
    expect((await a.adopt()).map((o) => o.uid)).toContain(legacy.serverUid);
    expect((await b.adopt()).map((o) => o.uid)).not.toContain(legacy.serverUid);
    expect(await b.inspect(legacy.serverUid)).toBeUndefined();
    expect((await a.inspect(legacy.serverUid))?.containerId).toBe(c!.Id);
    await a.remove(legacy.serverUid);
    expect(await containersOf(legacy.serverUid)).toHaveLength(0);
  }, 60_000);
});
