import { describe, expect, it } from 'vitest';
import {
  containerName,
  DEFAULT_POLICY,
  LABEL_SPEC_HASH,
  specHash,
  stopFromLabels,
  toCreateOptions,
  toInstallCreateOptions,
  validateSpec,
  type ContainerSpec,
} from '../../agent/runtime/spec.ts';

const spec: ContainerSpec = {
  serverUid: '0b5c2a4e-1111-4222-8333-944445555666',
  name: 'survival',
  namespace: 'default',
  image: 'gantry-test/gameserver:1',
  command: ['/gameserver.sh', '--nogui'],
  env: { SERVER_PORT: '25565', MOTD: 'hi' },
  dataDir: '/var/lib/gantry/servers/0b5c2a4e',
  dataPath: '/data',
  memoryMb: 512,
  cpuCores: 1.5,
  diskMb: 1024,
  ports: [
    { containerPort: 25565, hostPort: 25565, protocol: 'TCP' },
    { containerPort: 25565, hostPort: 25565, protocol: 'UDP' },
    { containerPort: 8123 },
  ],
  bindAddress: '127.0.0.1',
  stop: { type: 'command', value: 'stop' },
  stopTimeoutSeconds: 20,
};

describe('agent/runtime/spec: toCreateOptions', () => {
  const o = toCreateOptions(spec);
  const hc = o.HostConfig!;

  it('labels the container with uid, name, namespace, role, hash and stop settings', () => {
    expect(o.name).toBe('gantry-default-survival-0b5c2a4e');
    expect(o.Labels).toMatchObject({
      'gantry.dev/server-uid': spec.serverUid,
      'gantry.dev/server-name': 'survival',
      'gantry.dev/namespace': 'default',
      'gantry.dev/role': 'server',
      'gantry.dev/stop': '{"type":"command","value":"stop"}',
      'gantry.dev/stop-timeout': '20',
      'gantry.dev/data-dir': spec.dataDir,
      'gantry.dev/disk-mb': '1024',
    });
    expect(o.Labels![LABEL_SPEC_HASH]).toMatch(/^[0-9a-f]{16}$/);
  });

  it('sets command, sorted env, console options and stop signal', () => {
    expect(o.Image).toBe(spec.image);
    expect(o.Cmd).toEqual(['/gameserver.sh', '--nogui']);
    expect(o.Entrypoint).toBeUndefined();
    expect(o.Env).toEqual(['MOTD=hi', 'SERVER_PORT=25565']);
    expect(o).toMatchObject({ OpenStdin: true, StdinOnce: false, Tty: false, AttachStdin: true, StopSignal: 'SIGTERM', StopTimeout: 20 });
    expect(toCreateOptions({ ...spec, stop: { type: 'signal', value: 'INT' } }).StopSignal).toBe('SIGINT');
    expect(toCreateOptions({ ...spec, command: [] }).Cmd).toBeUndefined();
  });

  it('binds the data dir and sets limits (swap = memory, NanoCpus, pids)', () => {
    expect(hc.Mounts).toEqual([{ Type: 'bind', Source: spec.dataDir, Target: '/data', ReadOnly: false }]);
    expect(hc.Memory).toBe(512 * 1024 * 1024);
    expect(hc.MemorySwap).toBe(512 * 1024 * 1024);
    expect(hc.NanoCpus).toBe(1_500_000_000);
    expect(hc.CpuQuota).toBeUndefined();
    expect(hc.PidsLimit).toBe(512);
    expect(toCreateOptions({ ...spec, pidsLimit: 64 }).HostConfig!.PidsLimit).toBe(64);
    const unlimited = toCreateOptions({ ...spec, memoryMb: 0, cpuCores: 0 }).HostConfig!;
    expect([unlimited.Memory, unlimited.MemorySwap, unlimited.NanoCpus]).toEqual([0, 0, 0]);
  });

  it('publishes TCP and UDP ports on the bind address (0 → random)', () => {
    expect(o.ExposedPorts).toEqual({ '25565/tcp': {}, '25565/udp': {}, '8123/tcp': {} });
    expect(hc.PortBindings).toEqual({
      '25565/tcp': [{ HostIp: '127.0.0.1', HostPort: '25565' }],
      '25565/udp': [{ HostIp: '127.0.0.1', HostPort: '25565' }],
      '8123/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }],
    });
    expect(hc.NetworkMode).toBe('bridge');
    const host = toCreateOptions({ ...spec, networkMode: 'host' }).HostConfig!;
    expect(host.NetworkMode).toBe('host');
    expect(host.PortBindings).toEqual({});
  });

  it('is hardened: never privileged, no-new-privileges, CapDrop ALL + minimal set, tmpfs /tmp', () => {
    expect(hc.Privileged).toBe(false);
    expect(hc.ReadonlyRootfs).toBe(false);
    expect(hc.SecurityOpt).toEqual(['no-new-privileges:true']);
    expect(hc.CapDrop).toEqual(['ALL']);
    expect(hc.CapAdd).toEqual(['CHOWN', 'SETUID', 'SETGID', 'DAC_OVERRIDE', 'FOWNER', 'KILL', 'NET_BIND_SERVICE']);
    expect(hc.CapAdd).not.toContain('NET_RAW');
    expect(hc.CapAdd).not.toContain('SYS_ADMIN');
    expect(hc.Tmpfs).toEqual({ '/tmp': 'rw,exec,nosuid,nodev,size=64m,mode=1777' });
    expect(hc.RestartPolicy).toEqual({ Name: 'no' });
    expect(hc.LogConfig).toEqual({ Type: 'local', Config: { 'max-size': '5m', 'max-file': '1', compress: 'false' } });
  });

  it('adds policy labels and honours a name prefix', () => {
    const p = { ...DEFAULT_POLICY, extraLabels: { 'gantry.test': '1' }, namePrefix: 'gt' };
    const x = toCreateOptions(spec, p);
    expect(x.Labels!['gantry.test']).toBe('1');
    expect(x.name).toBe('gt-default-survival-0b5c2a4e');
    expect(containerName(spec, p, 'install')).toBe('gt-install-default-survival-0b5c2a4e');
  });

  it('spec hash is stable and changes with anything that shapes the container', () => {
    expect(specHash(spec)).toBe(specHash({ ...spec, env: { MOTD: 'hi', SERVER_PORT: '25565' } }));
    expect(specHash(spec)).toBe(o.Labels![LABEL_SPEC_HASH]);
    for (const change of [{ memoryMb: 1024 }, { image: 'other:1' }, { env: { MOTD: 'x' } }, { ports: [] }, { stop: { type: 'signal' as const, value: 'SIGINT' } }]) {
      expect(specHash({ ...spec, ...change })).not.toBe(specHash(spec));
    }
  });

  it('validates the spec with field-named errors', () => {
    expect(() => validateSpec({ ...spec, dataDir: 'relative' })).toThrow(/dataDir/);
    expect(() => validateSpec({ ...spec, dataPath: '/tmp' })).toThrow(/dataPath/);
    expect(() => validateSpec({ ...spec, memoryMb: 2 })).toThrow(/memoryMb/);
    expect(() => validateSpec({ ...spec, ports: [{ containerPort: 70000 }] })).toThrow(/ports\[0\]\.containerPort/);
    expect(() => validateSpec({ ...spec, ports: [{ containerPort: 1 }, { containerPort: 1, protocol: 'TCP' }] })).toThrow(/duplicate port 1\/TCP/);
    expect(() => validateSpec({ ...spec, stop: { type: 'command', value: 'a\nb' } })).toThrow(/stop.value/);
    expect(() => validateSpec({ ...spec, stop: { type: 'signal', value: 'kill -9' } })).toThrow(/stop.value/);
    expect(() => validateSpec({ ...spec, env: { 'BAD-NAME': 'x' } })).toThrow(/env.BAD-NAME/);
  });

  it('stopFromLabels reads back what was stored, with defaults', () => {
    expect(stopFromLabels(o.Labels)).toEqual({ stop: { type: 'command', value: 'stop' }, timeoutSeconds: 20 });
    expect(stopFromLabels({})).toEqual({ stop: { type: 'signal', value: 'SIGTERM' }, timeoutSeconds: 30 });
  });
});

describe('agent/runtime/spec: toInstallCreateOptions', () => {
  it('runs the script from a read-only mount, data at /mnt/server, same hardening and limits', () => {
    const i = toInstallCreateOptions(spec, { image: 'installer:1', script: 'echo hi' }, '/tmp/gantry-install-x');
    expect(i.name).toBe('gantry-install-default-survival-0b5c2a4e');
    expect(i.Image).toBe('installer:1');
    expect(i.Entrypoint).toEqual(['/bin/sh']);
    expect(i.Cmd).toEqual(['/mnt/install/install.sh']);
    expect(i.Labels).toMatchObject({ 'gantry.dev/role': 'install', 'gantry.dev/server-uid': spec.serverUid });
    expect(i.OpenStdin).toBe(false);
    const hc = i.HostConfig!;
    expect(hc.Mounts).toEqual([
      { Type: 'bind', Source: spec.dataDir, Target: '/mnt/server', ReadOnly: false },
      { Type: 'bind', Source: '/tmp/gantry-install-x', Target: '/mnt/install', ReadOnly: true },
    ]);
    expect(hc).toMatchObject({ Privileged: false, SecurityOpt: ['no-new-privileges:true'], CapDrop: ['ALL'], PidsLimit: 512, Memory: 512 * 1024 * 1024, MemorySwap: 512 * 1024 * 1024 });
    expect(hc.Tmpfs).toEqual({ '/tmp': 'rw,exec,nosuid,nodev,size=64m,mode=1777' });
    expect(hc.PortBindings).toBeUndefined();
    expect(toInstallCreateOptions(spec, { image: 'i', script: '', entrypoint: 'bash', dataPath: '/srv' }, '/x').Entrypoint).toEqual(['bash']);
  });
});
