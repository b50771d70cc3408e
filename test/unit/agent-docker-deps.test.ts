// dockerode's unused dependencies (BuildKit's gRPC, ssh2) are stand-ins in the agent until used.
// Checked in a fresh process running the compiled agent module, since this one may have loaded them.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { compiledPath } from '../../lib/package-files.ts';

const probe = (body: string): Record<string, unknown> => {
  const script = `
    import { createRequire } from 'node:module';
    import Docker from ${JSON.stringify(compiledPath('agent/runtime/docker-client.ts'))};
    const require = createRequire(import.meta.url);
    const loaded = (pkg) => Object.keys(require.cache).filter((f) => f.includes('/node_modules/' + pkg + '/')).length;
    const fromModem = createRequire(createRequire(require.resolve('dockerode')).resolve('docker-modem'));
    const out = {};
    ${body}
    process.stdout.write(JSON.stringify(out));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as Record<string, unknown>;
};

describe('the agent\'s Docker client', () => {
  it('loads dockerode without gRPC, protobuf or ssh2 (one stand-in file each, no module of theirs)', () => {
    const r = probe(`
      out.docker = typeof new Docker({ socketPath: '/nonexistent.sock' }).listContainers;
      out.grpc = loaded('@grpc/grpc-js'); out.protobuf = loaded('protobufjs'); out.ssh2 = loaded('ssh2');`);
    expect(r).toEqual({ docker: 'function', grpc: 1, protobuf: 0, ssh2: 1 });
  });

  it('loads the real module the first time it is used, and that works', () => {
    const r = probe(`
      const { Client } = fromModem('ssh2');
      out.before = loaded('ssh2');
      const c = new Client();
      out.after = loaded('ssh2') > 10;
      out.isClient = typeof c.connect === 'function' && typeof c.on === 'function';
      out.same = fromModem('ssh2').Client === require(fromModem.resolve('ssh2')).Client;
      const grpc = createRequire(createRequire(require.resolve('dockerode')).resolve('./session.js'))('@grpc/grpc-js');
      out.grpc = typeof grpc.Server;`);
    expect(r).toEqual({ before: 1, after: true, isClient: true, same: true, grpc: 'function' });
  });
});
