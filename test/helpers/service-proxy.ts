// What a Kubernetes Service does for the controller's replicas, on loopback: every new TCP connection
// goes to a backend whose readiness probe answers 200 at that moment; with none ready it is refused
// (closed). Agents and API clients then reach the leader only, as they would through a Service.
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Backend {
  /** Where connections go (the API port). */
  port: number;
  /** The readiness probe (http://127.0.0.1:PORT/readyz). */
  readyUrl: string;
}

export interface ServiceProxy {
  url: string;
  port: number;
  close(): Promise<void>;
}

async function ready(b: Backend): Promise<boolean> {
  try {
    const res = await fetch(b.readyUrl, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

export async function startServiceProxy(backends: Backend[]): Promise<ServiceProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    client.pause();
    void (async () => {
      const states = await Promise.all(backends.map(ready));
      const target = backends.find((_, i) => states[i]);
      if (!target || client.destroyed) return void client.destroy();
      const upstream = net.connect(target.port, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('close', () => {
        sockets.delete(upstream);
        client.destroy();
      });
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('connect', () => {
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}
