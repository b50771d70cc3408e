// dockerode 4 requires, at import, modules for features the agent never uses: @grpc/grpc-js and
// @grpc/proto-loader (BuildKit sessions, for image builds) and, through docker-modem, ssh2 (ssh://
// Docker hosts; it instantiates a 16 MiB WebAssembly memory on load). Together they were about a
// quarter of an idle agent's memory. Node's require.cache may be filled in ahead ("adding or
// replacing entries is also possible"), so each gets a stand-in that loads the real module the first
// time anything of it is used: nothing changes for a caller that does use them.
//
// Import this module before dockerode (docker-client.ts does): ES modules evaluate their imports in order.
import { createRequire, Module } from 'node:module';

type Loader = () => Record<string | symbol, unknown>;

/** A constructor that, when called with `new`, constructs the real export. */
const lazyConstructor = (load: Loader, name: string) =>
  new Proxy(function standIn() {}, {
    construct: (_t, args) => new (load()[name] as new (...a: unknown[]) => object)(...args),
    apply: (_t, self, args) => (load()[name] as (...a: unknown[]) => unknown).apply(self, args),
    get: (_t, key) => (load()[name] as Record<string | symbol, unknown>)[key],
  });

/**
 * Registers a stand-in for `id` as resolved from the module `from` (so the very file that module would
 * load). `eager` names exports read at the requiring module's load time (`require('ssh2').Client`):
 * they are handed out as lazy constructors instead of loading the module to read them.
 */
function standIn(id: string, from: string, eager: string[] = []): void {
  const req = createRequire(from);
  let file: string;
  try {
    file = req.resolve(id);
  } catch {
    return; // not installed where dockerode looks: dockerode will fail on its own, as it would anyway
  }
  if (req.cache[file]) return; // already loaded (for real) in this process
  let real: Record<string | symbol, unknown> | undefined;
  const load: Loader = () => {
    if (!real) {
      delete req.cache[file];
      real = req(id) as Record<string | symbol, unknown>;
    }
    return real;
  };
  const mod = new Module(file);
  mod.filename = file;
  mod.loaded = true;
  mod.exports = new Proxy({}, {
    get: (_t, key) => (typeof key === 'string' && eager.includes(key) && !real ? lazyConstructor(load, key) : load()[key]),
    has: (_t, key) => key in load(),
    ownKeys: () => Reflect.ownKeys(load()),
    getOwnPropertyDescriptor: (_t, key) => {
      const d = Reflect.getOwnPropertyDescriptor(load(), key);
      return d && { ...d, configurable: true };
    },
  });
  req.cache[file] = mod;
}

const require = createRequire(import.meta.url);
const dockerode = require.resolve('dockerode');
standIn('@grpc/grpc-js', createRequire(dockerode).resolve('./session.js'));
standIn('@grpc/proto-loader', createRequire(dockerode).resolve('./session.js'));
standIn('ssh2', createRequire(createRequire(dockerode).resolve('docker-modem')).resolve('./ssh.js'), ['Client']);
