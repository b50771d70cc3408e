import net from 'node:net';

/** A raw HTTP/1.0 GET over TCP to 127.0.0.1:port (the test image's busybox httpd); the whole answer. */
export function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let data = '';
    sock.setTimeout(10_000, () => sock.destroy(new Error('TCP answer timed out')));
    sock.on('connect', () => sock.write('GET / HTTP/1.0\r\n\r\n'));
    sock.on('data', (d) => (data += d.toString()));
    sock.on('end', () => resolve(data));
    sock.on('error', reject);
  });
}
