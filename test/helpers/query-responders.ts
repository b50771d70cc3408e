// Real game query protocols, answered by the test itself: a Minecraft server list ping (SLP) server
// over TCP (handshake, status request → JSON, ping → pong) and a Source A2S server over UDP
// (A2S_INFO and A2S_PLAYER, each with the challenge handshake of current Source servers). The
// players are changed by the test while the agent queries them.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';

export interface Players {
  online: number;
  max: number;
  names: string[];
}

export interface Responder {
  port: number;
  players: Players;
  /** Requests answered (status requests / A2S_INFO). */
  queries: number;
  close(): Promise<void>;
}

function readVarInt(buf: Buffer, at: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (at + i >= buf.length) return undefined;
    const b = buf[at + i]!;
    value |= (b & 0x7f) << (7 * i);
    if (!(b & 0x80)) return { value, next: at + i + 1 };
  }
  throw new Error('varint too long');
}

function varInt(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
}

const packet = (id: number, body: Buffer) => {
  const payload = Buffer.concat([varInt(id), body]);
  return Buffer.concat([varInt(payload.length), payload]);
};

/** A Minecraft Java server's status endpoint (protocol 763), on 127.0.0.1:`port` (0: a free one). */
export async function startSlpResponder(players: Players, port = 0): Promise<Responder> {
  const r: Responder = { port: 0, players, queries: 0, close: async () => {} };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    let state = 0;
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const len = readVarInt(buf, 0);
        if (!len || buf.length < len.next + len.value) return;
        const body = buf.subarray(len.next, len.next + len.value);
        buf = buf.subarray(len.next + len.value);
        const id = readVarInt(body, 0)!;
        if (state === 0 && id.value === 0) {
          // handshake: protocol, address, port, next state (1 = status)
          state = 1;
        } else if (state === 1 && id.value === 0) {
          r.queries++;
          const json = JSON.stringify({
            version: { name: '1.20.1', protocol: 763 },
            players: { max: r.players.max, online: r.players.online, sample: r.players.names.map((name) => ({ name, id: randomBytes(16).toString('hex') })) },
            description: { text: 'A Gantry query test' },
          });
          const s = Buffer.from(json, 'utf8');
          sock.write(packet(0, Buffer.concat([varInt(s.length), s])));
        } else if (state === 1 && id.value === 1) {
          sock.end(packet(1, body.subarray(id.next)));
        }
      }
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
  r.port = (server.address() as net.AddressInfo).port;
  r.close = () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return r;
}

const cstr = (s: string) => Buffer.from(s + '\0', 'utf8');

/** A Source server's A2S endpoint on UDP 127.0.0.1:`port` (0: a free one). */
export async function startA2sResponder(players: Players, port = 0): Promise<Responder> {
  const r: Responder = { port: 0, players, queries: 0, close: async () => {} };
  const sock = dgram.createSocket('udp4');
  const challenge = randomBytes(4).readUInt32LE(0) || 1;
  const header = Buffer.from([0xff, 0xff, 0xff, 0xff]);
  const challengeReply = () => {
    const b = Buffer.alloc(9);
    header.copy(b);
    b[4] = 0x41;
    b.writeUInt32LE(challenge, 5);
    return b;
  };
  sock.on('message', (msg, rinfo) => {
    if (msg.length < 5 || msg.readInt32LE(0) !== -1) return;
    const type = msg[4];
    const send = (b: Buffer) => sock.send(b, rinfo.port, rinfo.address);
    if (type === 0x54) {
      const query = 'Source Engine Query\0';
      const rest = msg.subarray(5 + query.length);
      if (rest.length < 4 || rest.readUInt32LE(0) !== challenge) return send(challengeReply());
      r.queries++;
      const info = Buffer.concat([
        header, Buffer.from([0x49, 17]), cstr('Gantry A2S test'), cstr('de_test'), cstr('cstrike'), cstr('Counter-Strike'),
        Buffer.from([0x00, 0x00, r.players.online, r.players.max, 0, 0x64, 0x6c, 0, 1]), cstr('1.0.0.0'), Buffer.from([0x00]),
      ]);
      info.writeUInt16LE(240, 5 + 1 + 'Gantry A2S test'.length + 1 + 'de_test'.length + 1 + 'cstrike'.length + 1 + 'Counter-Strike'.length + 1);
      return send(info);
    }
    if (type === 0x55) {
      if (msg.length < 9 || msg.readUInt32LE(5) !== challenge) return send(challengeReply());
      const parts: Buffer[] = [header, Buffer.from([0x44, r.players.names.length])];
      r.players.names.forEach((name, i) => {
        const tail = Buffer.alloc(8);
        tail.writeInt32LE(10 * i, 0);
        tail.writeFloatLE(60 + i, 4);
        parts.push(Buffer.from([i]), cstr(name), tail);
      });
      return send(Buffer.concat(parts));
    }
  });
  await new Promise<void>((resolve, reject) => sock.once('error', reject).bind(port, '127.0.0.1', () => resolve()));
  r.port = sock.address().port;
  r.close = () => new Promise((resolve) => sock.close(() => resolve()));
  return r;
}
