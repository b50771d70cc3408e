// Host-port allocation: per protocol, lowest free first, explicit ports, collisions, exhaustion.
import { describe, expect, it } from 'vitest';
import type { ServerPort } from '../../crds/types.ts';
import { allocatePorts, hostPortsOf, portRangeOf, requestedPorts, usedPorts } from '../../controller/scheduling/ports.ts';
import { boundServer, node, server, template } from './scheduling-fixtures.ts';

const n1 = node('n1', { spec: { portRange: { start: 27000, end: 27004 } } });
const tpl = template();
const hp = (r: ReturnType<typeof allocatePorts>) => (r.ok ? r.ports.map((p) => `${p.hostPort}/${p.protocol}`) : r.reason);
const ports = (...p: ServerPort[]) => ({ spec: { ports: p } });

describe('requestedPorts', () => {
  it('spec.ports, else the template ports; TCP default; primary on the first when none is marked', () => {
    expect(requestedPorts(server('a'), tpl)).toEqual([{ containerPort: 25565, hostPort: 0, protocol: 'TCP', primary: true }]);
    expect(requestedPorts(server('a', ports({ containerPort: 1, name: 'q' }, { containerPort: 2, protocol: 'UDP', primary: true })), tpl)).toEqual([
      { containerPort: 1, hostPort: 0, protocol: 'TCP', primary: false, name: 'q' },
      { containerPort: 2, hostPort: 0, protocol: 'UDP', primary: true },
    ]);
    expect(requestedPorts(server('a', { spec: { ports: [] } }), tpl)).toEqual([]);
    expect(requestedPorts(server('a'), undefined)).toEqual([]);
  });
  it('portRangeOf falls back to the CRD default', () => {
    expect(portRangeOf(node('x', { spec: { portRange: undefined } }))).toEqual({ start: 27000, end: 28000 });
    expect(portRangeOf(n1)).toEqual({ start: 27000, end: 27004 });
  });
});

describe('usedPorts', () => {
  it('status ports where the server is, explicit spec ports of its binding, host-mode container ports', () => {
    const a = boundServer('a', 'n1', { ports: [{ hostPort: 27000 }, { hostPort: 27000, protocol: 'UDP' }] });
    const b = server('b', { spec: { nodeName: 'n1', ports: [{ containerPort: 1, hostPort: 25565 }, { containerPort: 2 }] } });
    const c = server('c', { spec: { nodeName: 'n1', networkMode: 'host', ports: [{ containerPort: 7777, protocol: 'UDP' }] } });
    const d = server('d', { spec: { nodeName: 'n1', networkMode: 'none', ports: [{ containerPort: 1, hostPort: 9 }] } });
    const e = boundServer('e', 'n2', { ports: [{ hostPort: 27001 }] });
    const used = usedPorts('n1', [a, b, c, d, e]);
    expect([...used.keys()].sort()).toEqual(['25565/TCP', '27000/TCP', '27000/UDP', '7777/UDP']);
    expect(used.get('25565/TCP')).toEqual({ owner: 'default/b', senior: true });
    expect(usedPorts('n1', [a, b], { except: a }).size).toBe(1);
    expect(hostPortsOf(e, 'n1')).toEqual([]);
  });
});

describe('allocatePorts', () => {
  const other = (hostPort: number, protocol: 'TCP' | 'UDP' = 'TCP', senior = true) => [`${hostPort}/${protocol}`, { owner: 'default/alpha', senior }] as const;
  it.each([
    ['lowest free first', server('s', ports({ containerPort: 1 }, { containerPort: 2 })), [], ['27000/TCP', '27001/TCP']],
    ['skips ports others use', server('s', ports({ containerPort: 1 }, { containerPort: 2 })), [other(27000), other(27002)], ['27001/TCP', '27003/TCP']],
    ['TCP and UDP are separate spaces', server('s', ports({ containerPort: 1 }, { containerPort: 1, protocol: 'UDP' })), [other(27000, 'TCP')], ['27001/TCP', '27000/UDP']],
    ['explicit port outside the range is allowed', server('s', ports({ containerPort: 25565, hostPort: 25565 }, { containerPort: 2 })), [], ['25565/TCP', '27000/TCP']],
    ['explicit port inside the range is not handed out twice', server('s', ports({ containerPort: 1 }, { containerPort: 2, hostPort: 27000 })), [], ['27001/TCP', '27000/TCP']],
    ['explicit port held by a junior is allowed (the junior gives way)', server('s', ports({ containerPort: 1, hostPort: 27000 }, { containerPort: 2 })), [other(27000, 'TCP', false), other(27001, 'TCP', false)], ['27000/TCP', '27002/TCP']],
    ['explicit collision with a senior', server('s', ports({ containerPort: 25565, hostPort: 25565 })), [other(25565)], 'port 25565/TCP on node n1 is already used by default/alpha'],
    ['explicit UDP port does not collide with TCP', server('s', ports({ containerPort: 25565, hostPort: 25565, protocol: 'UDP' })), [other(25565)], ['25565/UDP']],
    ['same explicit port twice in one server', server('s', ports({ containerPort: 1, hostPort: 25565 }, { containerPort: 2, hostPort: 25565 })), [], 'port 25565/TCP is requested twice by default/s'],
    ['exhaustion', server('s', ports({ containerPort: 1 }, { containerPort: 2 }, { containerPort: 3 })), [other(27000), other(27001), other(27003)], 'not enough free TCP ports in range 27000-27004 on node n1 (needs 3, 2 free)'],
    ['exhaustion per protocol (UDP full, TCP free)', server('s', ports({ containerPort: 1, protocol: 'UDP' })), [27000, 27001, 27002, 27003, 27004].map((p) => other(p, 'UDP')), 'not enough free UDP ports in range 27000-27004 on node n1 (needs 1, 0 free)'],
    ['host network: host port = container port, outside the range', server('s', { spec: { networkMode: 'host', ports: [{ containerPort: 7777, hostPort: 1 }] } }), [], ['7777/TCP']],
    ['host network: collision', server('s', { spec: { networkMode: 'host', ports: [{ containerPort: 7777, protocol: 'UDP' }] } }), [other(7777, 'UDP')], 'port 7777/UDP on node n1 is already used by default/alpha'],
    ['network none: nothing published', server('s', { spec: { networkMode: 'none', ports: [{ containerPort: 1, hostPort: 5 }] } }), [other(5)], ['0/TCP']],
    ['template ports when the server has none', server('s'), [], ['27000/TCP']],
  ] as const)('%s', (_, s, used, want) => {
    const r = allocatePorts({ server: s, template: tpl, node: n1, used: new Map(used) });
    expect(hp(r)).toEqual(want);
    if (!r.ok) expect(r.kind).toBe(typeof want === 'string' && want.startsWith('not enough') ? 'exhausted' : 'conflict');
  });

  it('keeps the ports a server already had on the node while free and in range', () => {
    const s = server('s', {
      spec: { nodeName: 'n1', ports: [{ containerPort: 1 }, { containerPort: 2 }, { containerPort: 3 }] },
      status: { nodeName: 'n1', ports: [{ containerPort: 1, hostPort: 27003, protocol: 'TCP' }, { containerPort: 2, hostPort: 27001, protocol: 'TCP' }, { containerPort: 3, hostPort: 30000, protocol: 'TCP' }] },
    });
    // 27001 was taken meanwhile (by hand); 30000 is out of the range now: both re-allocated.
    expect(hp(allocatePorts({ server: s, template: tpl, node: n1, used: new Map([other(27001)]) }))).toEqual(['27003/TCP', '27000/TCP', '27002/TCP']);
    // Previous ports on another node are not kept.
    const moved = server('s', { spec: { nodeName: 'n1', ports: [{ containerPort: 1 }] }, status: { nodeName: 'n0', ports: [{ containerPort: 1, hostPort: 27004 }] } });
    expect(hp(allocatePorts({ server: moved, template: tpl, node: n1, used: new Map() }))).toEqual(['27000/TCP']);
  });

  it('is deterministic and does not modify its inputs (frozen)', () => {
    const s = server('s', ports({ containerPort: 1 }, { containerPort: 2, protocol: 'UDP' }));
    const a = allocatePorts({ server: s, template: tpl, node: n1, used: new Map() });
    const b = allocatePorts({ server: s, template: tpl, node: n1, used: new Map() });
    expect(a).toEqual(b);
  });
});
