import { describe, expect, it } from 'vitest';
import type { GameNode, GameServer, ServerTemplate } from '../../crds/types.ts';
import { canonicalJson, dataDirOf, hashSpec, isDesiredError, resolveDesired, type Desired, type DesiredResult } from '../../controller/reconcilers/gameserver/desired.ts';

const template = (over: Partial<ServerTemplate['spec']> = {}): ServerTemplate => ({
  apiVersion: 'gantry.dev/v1alpha1',
  kind: 'ServerTemplate',
  metadata: { name: 'testgame' },
  spec: {
    image: 'gantry-test/gameserver:1',
    images: { 'Java 17': 'eclipse-temurin:17' },
    startCommand: '/gameserver.sh --port {{SERVER_PORT}} --motd "{{MOTD}}" -m {{SERVER_MEMORY}}',
    stop: { type: 'command', value: 'stop' },
    readyPattern: 'Done! server ready',
    dataPath: '/data',
    install: { script: 'date > /data/installed', entrypoint: '/bin/sh' },
    ports: [{ name: 'game', containerPort: 25565, protocol: 'TCP' }, { name: 'query-port', containerPort: 25566, protocol: 'UDP' }],
    variables: [{ name: 'MOTD', default: 'A Gantry test server', pattern: '^.{0,128}$' }],
    environment: { DATA_DIR: '/data', GREETING: 'hi {{MOTD}}' },
    resources: { memoryMb: 256, cpuCores: 0.5, diskMb: 1024 },
    ...over,
  },
});

const node: GameNode = {
  apiVersion: 'gantry.dev/v1alpha1',
  kind: 'GameNode',
  metadata: { name: 'node-a' },
  spec: { address: '10.0.0.5', publicAddress: 'play.example.com', bindAddress: '0.0.0.0' },
};

const server = (spec: Partial<GameServer['spec']> = {}, status: GameServer['status'] = { ports: [{ containerPort: 25565, protocol: 'TCP', hostPort: 27001 }, { containerPort: 25566, protocol: 'UDP', hostPort: 27002 }] }): GameServer => ({
  apiVersion: 'gantry.dev/v1alpha1',
  kind: 'GameServer',
  metadata: { name: 'example', namespace: 'team-a', uid: '0b6c2f9e-1111-4222-8333-444455556666', generation: 1 },
  spec: { templateRef: 'testgame', nodeName: 'node-a', state: 'Running', ...spec },
  status,
});

const ok = (r: DesiredResult): Desired => {
  if (isDesiredError(r)) throw new Error(`unexpected error ${r.error.reason}: ${r.error.message}`);
  return r;
};
const err = (r: DesiredResult) => {
  if (!isDesiredError(r)) throw new Error('expected an error');
  return r.error;
};

describe('gameserver resolveDesired', () => {
  it('builds the container spec from the template, the server and the allocated ports', () => {
    const d = ok(resolveDesired(server({ environment: { MOTD: 'Hello; rm -rf /' } }), template(), node));
    const c = d.containerSpec;
    expect(c).toMatchObject({
      serverUid: '0b6c2f9e-1111-4222-8333-444455556666',
      name: 'example',
      namespace: 'team-a',
      image: 'gantry-test/gameserver:1',
      command: ['/gameserver.sh', '--port', '25565', '--motd', 'Hello; rm -rf /', '-m', '256'],
      dataDir: 'team-a/example',
      dataPath: '/data',
      memoryMb: 256,
      cpuCores: 0.5,
      diskMb: 1024,
      ports: [{ containerPort: 25565, protocol: 'TCP', hostPort: 27001 }, { containerPort: 25566, protocol: 'UDP', hostPort: 27002 }],
      networkMode: 'bridge',
      bindAddress: '0.0.0.0',
      stop: { type: 'command', value: 'stop' },
      stopTimeoutSeconds: 30,
    });
    expect(c.env).toMatchObject({
      SERVER_PORT: '25565', SERVER_PORT_GAME: '25565', SERVER_PORT_QUERY_PORT: '25566', SERVER_IP: '0.0.0.0', SERVER_MEMORY: '256',
      SERVER_NAME: 'example', SERVER_UUID: '0b6c2f9e-1111-4222-8333-444455556666', MOTD: 'Hello; rm -rf /', DATA_DIR: '/data', GREETING: 'hi Hello; rm -rf /',
    });
    expect(d.install).toEqual({ image: 'gantry-test/gameserver:1', script: 'date > /data/installed', entrypoint: '/bin/sh', dataPath: '/data' });
    expect(d.readyPattern?.test('[12:00] Done! server ready')).toBe(true);
    expect(d.ports[0]).toEqual({ name: 'game', containerPort: 25565, protocol: 'TCP', hostPort: 27001, primary: true });
    expect(d.ports[1].primary).toBe(false);
    expect(d.address).toBe('play.example.com:27001');
    expect(d.hash).toMatch(/^[0-9a-f]{16}$/);
    expect(dataDirOf(server())).toBe('team-a/example');
  });

  it('server overrides win: image (by images label or reference), start command, limits, ports, stop timeout, network', () => {
    const s = server({
      image: 'Java 17',
      startCommand: 'java -Xmx{{SERVER_MEMORY}}M -jar server.jar --port {{SERVER_PORT}}',
      resources: { memoryMb: 2048, pidsLimit: 100 },
      ports: [{ containerPort: 7777, hostPort: 30000, protocol: 'UDP' }, { containerPort: 7778, hostPort: 30001, primary: true }],
      stopTimeoutSeconds: 5,
    }, {});
    const d = ok(resolveDesired(s, template(), node));
    expect(d.containerSpec.image).toBe('eclipse-temurin:17');
    expect(d.containerSpec.command).toEqual(['java', '-Xmx2048M', '-jar', 'server.jar', '--port', '7778']);
    expect(d.containerSpec).toMatchObject({ memoryMb: 2048, cpuCores: 0.5, diskMb: 1024, pidsLimit: 100, stopTimeoutSeconds: 5 });
    expect(d.address).toBe('play.example.com:30001');
    expect(ok(resolveDesired(server({ image: 'registry.local/custom:2' }), template(), node)).containerSpec.image).toBe('registry.local/custom:2');
  });

  it('falls back to the CRD defaults when neither server nor template sets a limit; install image defaults to the image', () => {
    const d = ok(resolveDesired(server(), template({ resources: undefined, stop: undefined, dataPath: undefined, install: { script: 'true' } }), undefined));
    expect(d.containerSpec).toMatchObject({ memoryMb: 1024, cpuCores: 1, diskMb: 10240, dataPath: '/data', stop: { type: 'command', value: 'stop' } });
    expect(d.install).toMatchObject({ image: 'gantry-test/gameserver:1', entrypoint: '/bin/sh' });
    expect(d.address).toBeUndefined();
  });

  it('host networking: SERVER_PORT is the host port (no mapping) and nothing needs allocating', () => {
    const d = ok(resolveDesired(server({ networkMode: 'host' }, { ports: [{ containerPort: 25565, protocol: 'TCP', hostPort: 27010 }] }), template(), node));
    expect(d.containerSpec.env?.SERVER_PORT).toBe('27010');
    expect(d.containerSpec.command?.[2]).toBe('27010');
    expect(d.containerSpec.networkMode).toBe('host');
  });

  it('the server environment may override a built-in', () => {
    const d = ok(resolveDesired(server({ environment: { SERVER_PORT: '1234' } }), template(), node));
    expect(d.containerSpec.command?.[2]).toBe('1234');
  });

  it.each([
    ['missing template', () => resolveDesired(server(), undefined, node), 'TemplateNotFound', /ServerTemplate "testgame" does not exist/],
    ['missing required variable', () => resolveDesired(server(), template({ variables: [{ name: 'MOTD', required: true }] }), node), 'InvalidVariable', /required variable "MOTD"/],
    ['value failing its pattern', () => resolveDesired(server({ environment: { MOTD: 'x'.repeat(200) } }), template(), node), 'InvalidVariable', /does not match its pattern/],
    ['unknown placeholder', () => resolveDesired(server({ startCommand: 'run {{NOPE}}' }), template(), node), 'InvalidStartCommand', /unknown placeholder \{\{NOPE\}\}/],
    ['shell syntax', () => resolveDesired(server({ startCommand: 'run | tee log' }), template(), node), 'InvalidStartCommand', /shell syntax/],
    ['bad readyPattern', () => resolveDesired(server(), template({ readyPattern: '([' }), node), 'InvalidReadyPattern', /does not compile/],
    ['port without allocation', () => resolveDesired(server({}, {}), template(), node), 'PortNotAllocated', /25565\/TCP has no host port/],
    ['no uid yet', () => resolveDesired({ ...server(), metadata: { name: 'x', namespace: 'y' } }, template(), node), 'InvalidSpec', /uid/],
  ])('%s → error with a reason, never a throw', (_n, run, reason, message) => {
    const e = err(run());
    expect(e.reason).toBe(reason);
    expect(e.message).toMatch(message);
  });

  it('the hash is canonical: same spec → same hash, any container-relevant change → another', () => {
    const a = ok(resolveDesired(server(), template(), node));
    const b = ok(resolveDesired(server(), template(), node));
    expect(a.hash).toBe(b.hash);
    expect(canonicalJson({ b: 1, a: { d: 2, c: undefined } })).toBe(canonicalJson({ a: { d: 2 }, b: 1 }));
    expect(hashSpec({ ...a.containerSpec, env: Object.fromEntries(Object.entries(a.containerSpec.env!).reverse()) })).toBe(a.hash);
    const changed = [
      resolveDesired(server({ environment: { MOTD: 'other' } }), template(), node),
      resolveDesired(server({ resources: { memoryMb: 512 } }), template(), node),
      resolveDesired(server(), template({ image: 'gantry-test/gameserver:2' }), node),
      resolveDesired(server({ stopTimeoutSeconds: 10 }), template(), node),
    ].map((r) => ok(r).hash);
    for (const h of changed) expect(h).not.toBe(a.hash);
    // the display name and the install script are not part of the container
    expect(ok(resolveDesired(server({ displayName: 'New name' }), template({ install: { script: 'echo other' } }), node)).hash).toBe(a.hash);
  });
});
