import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type Docker from 'dockerode';
import { EventWatcher, observeFromEvent, observeFromInspect, type ObservedContainer } from '../../agent/runtime/events.ts';

type Info = Docker.ContainerInspectInfo;

function info(id: string, uid: string, state: Partial<Info['State']> & { Status: string }, ports: Info['NetworkSettings']['Ports'] = {}): Info {
  return {
    Id: id,
    Name: `/gantry-${uid}`,
    Config: { Image: 'img:1', Labels: { 'gantry.dev/server-uid': uid, 'gantry.dev/server-name': 'srv', 'gantry.dev/namespace': 'default', 'gantry.dev/role': 'server', 'gantry.dev/spec-hash': 'h1' } },
    State: { Running: state.Status === 'running', OOMKilled: false, ExitCode: 0, StartedAt: '0001-01-01T00:00:00Z', FinishedAt: '0001-01-01T00:00:00Z', ...state },
    NetworkSettings: { Ports: ports },
  } as unknown as Info;
}

/** A fake Docker: containers by id, event streams the test can push to and end. */
class FakeDocker {
  containers = new Map<string, Info>();
  streams: PassThrough[] = [];
  getEventsCalls: Array<{ filters: Record<string, string[]> }> = [];
  failGetEvents = 0;

  async getEvents(opts: { filters: Record<string, string[]> }): Promise<NodeJS.ReadableStream> {
    this.getEventsCalls.push(opts);
    if (this.failGetEvents > 0) {
      this.failGetEvents--;
      throw Object.assign(new Error('connect ENOENT /var/run/docker.sock'), { code: 'ENOENT' });
    }
    const s = new PassThrough();
    this.streams.push(s);
    return s;
  }

  async listContainers(): Promise<Array<{ Id: string; Labels?: Record<string, string> }>> {
    return [...this.containers.values()].map((c) => ({ Id: c.Id, Labels: c.Config.Labels }));
  }

  getContainer(id: string) {
    return {
      inspect: async (): Promise<Info> => {
        const c = this.containers.get(id);
        if (!c) throw Object.assign(new Error('no such container'), { statusCode: 404 });
        return structuredClone(c);
      },
    };
  }

  emit(ev: Record<string, unknown>): void {
    this.streams.at(-1)!.write(JSON.stringify(ev) + '\n');
  }
}

const ev = (action: string, id: string, uid: string, attrs: Record<string, string> = {}) => ({
  Type: 'container',
  Action: action,
  status: action,
  id,
  time: 1795437804,
  timeNano: 1795437804203991064,
  Actor: { ID: id, Attributes: { 'gantry.dev/server-uid': uid, name: 'n', image: 'img:1', ...attrs } },
});

async function until(fn: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('agent/runtime/events: pure mapping', () => {
  it('observeFromInspect maps state, exit code, OOM, times and published ports', () => {
    const o = observeFromInspect(
      info('c1', 'u1', { Status: 'exited', ExitCode: 137, OOMKilled: true, StartedAt: '2026-01-01T00:00:00Z', FinishedAt: '2026-01-01T00:01:00Z' }, {
        '25565/tcp': [{ HostIp: '127.0.0.1', HostPort: '40001' }],
        '25565/udp': null as never,
      }),
    );
    expect(o).toMatchObject({ uid: 'u1', name: 'srv', namespace: 'default', containerId: 'c1', containerName: 'gantry-u1', state: 'exited', exitCode: 137, oomKilled: true, startedAt: '2026-01-01T00:00:00Z', finishedAt: '2026-01-01T00:01:00Z', specHash: 'h1' });
    expect(o.ports).toEqual([{ containerPort: 25565, protocol: 'TCP', hostIp: '127.0.0.1', hostPort: 40001 }]);
    const created = observeFromInspect(info('c2', 'u2', { Status: 'created' }));
    expect(created.startedAt).toBeUndefined();
    expect(created.exitCode).toBeUndefined();
  });

  it('observeFromEvent covers start, oom, die with exitCode and destroy', () => {
    const started = observeFromEvent(ev('start', 'c1', 'u1'))!;
    expect(started).toMatchObject({ state: 'running', uid: 'u1', containerId: 'c1' });
    expect(started.startedAt).toBe('2026-11-23T12:43:24.203Z');
    const oom = observeFromEvent(ev('oom', 'c1', 'u1'), started)!;
    expect(oom.oomKilled).toBe(true);
    const died = observeFromEvent(ev('die', 'c1', 'u1', { exitCode: '137' }), oom)!;
    expect(died).toMatchObject({ state: 'exited', exitCode: 137, oomKilled: true });
    expect(observeFromEvent(ev('destroy', 'c1', 'u1'), died)!.state).toBe('removed');
    expect(observeFromEvent(ev('exec_start', 'c1', 'u1'))).toBeUndefined();
  });
});

describe('agent/runtime/events: EventWatcher', () => {
  it('subscribes with label filters, snapshots, follows events by inspecting, reconnects and re-lists', async () => {
    const docker = new FakeDocker();
    docker.containers.set('c1', info('c1', 'u1', { Status: 'running', StartedAt: '2026-01-01T00:00:00Z' }));
    docker.containers.set('c2', info('c2', 'u2', { Status: 'exited', ExitCode: 0 }));
    const w = new EventWatcher({ docker, scopeLabels: { 'gantry.dev/node': 'n1' }, backoff: { initialMs: 10, maxMs: 40 }, random: () => 0.5 });
    const states: ObservedContainer[] = [];
    const snapshots: ObservedContainer[][] = [];
    let disconnects = 0;
    w.on('state', (s) => states.push(s));
    w.on('snapshot', (s) => snapshots.push(s));
    w.on('disconnected', () => disconnects++);
    await w.start();
    expect(docker.getEventsCalls[0].filters).toEqual({ type: ['container'], label: ['gantry.dev/server-uid', 'gantry.dev/role=server', 'gantry.dev/node=n1'] });
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0].map((s) => [s.uid, s.state]).sort()).toEqual([['u1', 'running'], ['u2', 'exited']]);

    // crash: the event says die; the inspect is the truth reported
    docker.containers.set('c1', info('c1', 'u1', { Status: 'exited', ExitCode: 3, StartedAt: '2026-01-01T00:00:00Z', FinishedAt: '2026-01-01T00:05:00Z' }));
    docker.emit(ev('die', 'c1', 'u1', { exitCode: '3' }));
    await until(() => w.get('u1')?.state === 'exited');
    expect(w.get('u1')).toMatchObject({ exitCode: 3, oomKilled: false, finishedAt: '2026-01-01T00:05:00Z' });

    // destroyed: reported removed without an inspect
    docker.containers.delete('c2');
    docker.emit(ev('destroy', 'c2', 'u2'));
    await until(() => w.get('u2')?.state === 'removed');

    // irrelevant events are ignored
    const before = states.length;
    docker.emit(ev('exec_create: sh', 'c1', 'u1'));
    docker.emit({ Type: 'container', Action: 'start', Actor: { ID: 'zz', Attributes: {} } }); // not ours
    await w.idle();
    expect(states.length).toBe(before);

    // dockerd restarts: the stream ends, connecting fails twice, then succeeds; meanwhile u1 was
    // started again and u3 created: the re-list reports both truthfully.
    docker.failGetEvents = 2;
    docker.containers.set('c1', info('c1', 'u1', { Status: 'running', StartedAt: '2026-01-02T00:00:00Z' }));
    docker.containers.set('c3', info('c3', 'u3', { Status: 'created' }));
    docker.streams.at(-1)!.end();
    await until(() => snapshots.length === 2);
    expect(disconnects).toBe(3);
    expect(docker.getEventsCalls.length).toBe(4);
    expect(w.get('u1')).toMatchObject({ state: 'running', startedAt: '2026-01-02T00:00:00Z' });
    expect(w.get('u3')!.state).toBe('created');
    expect(snapshots[1].map((s) => s.uid).sort()).toEqual(['u1', 'u3']);

    // after reconnecting, events flow again
    docker.containers.set('c3', info('c3', 'u3', { Status: 'running', StartedAt: '2026-01-02T00:00:01Z' }));
    docker.emit(ev('start', 'c3', 'u3'));
    await until(() => w.get('u3')?.state === 'running');
    w.stop();
  });

  it('a container removed while disconnected is reported removed after the re-list', async () => {
    const docker = new FakeDocker();
    docker.containers.set('c1', info('c1', 'u1', { Status: 'running' }));
    const w = new EventWatcher({ docker, backoff: { initialMs: 5, maxMs: 5 } });
    await w.start();
    const seen: ObservedContainer[] = [];
    w.on('state', (s) => seen.push(s));
    docker.containers.clear();
    docker.streams.at(-1)!.destroy(new Error('socket hang up'));
    await until(() => w.get('u1')?.state === 'removed');
    expect(seen.map((s) => s.state)).toEqual(['removed']);
    w.stop();
  });

  it('events of a replaced (older) container do not overwrite the new one', async () => {
    const docker = new FakeDocker();
    docker.containers.set('new', info('new', 'u1', { Status: 'running' }));
    const w = new EventWatcher({ docker });
    await w.start();
    docker.emit(ev('destroy', 'old', 'u1'));
    docker.emit(ev('die', 'old', 'u1', { exitCode: '0' }));
    await w.idle();
    expect(w.get('u1')).toMatchObject({ containerId: 'new', state: 'running' });
    w.stop();
  });
});
