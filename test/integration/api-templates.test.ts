// The Catalyst template endpoints over ServerTemplate: the mapping both ways (environment and
// requiredVariables ↔ variables, ports, stop command, config files), update keeping what the body
// leaves out, delete refused while servers use the template, and who may do what.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApiServices } from '../../api/http/services.ts';
import type { ServerTemplate } from '../../crds/types.ts';
import type { TestEnv } from '../helpers/env.ts';
import { openApiApp, type ApiApp, signIn, signInAdmin, type SignedIn } from '../helpers/api.ts';

const MINECRAFT = {
  name: 'Minecraft Java Edition',
  description: 'Latest Minecraft server',
  dockerImage: 'itzg/minecraft-server:latest',
  startCommand: 'java -Xmx{{MEMORY}} -jar server.jar',
  stopCommand: 'stop',
  ports: [{ internal: 25565, external: 25565 }],
  environment: { EULA: 'TRUE', MEMORY: '{{MEMORY}}', PORT: '{{PORT}}', JAVA_OPTS: '-Dlevel={{LEVEL}}' },
  requiredVariables: ['MEMORY', 'PORT', 'EULA'],
  features: { configFiles: ['/server.properties', '/config/settings.json'] },
};

describe('templates API', () => {
  let env: TestEnv;
  let svc: ApiServices;
  let api: ApiApp;
  let admin: SignedIn;
  let user: SignedIn;

  const call = (...a: Parameters<ApiApp['as']>) => api.as(...a);
  const stored = async (id: string) => (await env.store.get('ServerTemplate', undefined, id)) as unknown as ServerTemplate;

  beforeEach(async () => {
    api = await openApiApp({ api: { limits: { authPerMinute: 100_000, userPerMinute: 100_000 } } });
    ({ env, svc } = api);
    admin = await signInAdmin(svc);
    user = await signIn(svc, 'user');
  });
  afterEach(() => env.close());

  it('maps a Catalyst template onto ServerTemplate and back', async () => {
    const res = await call(admin, 'POST', '/api/templates', MINECRAFT);
    expect(res.status).toBe(201);
    const t = await stored('minecraft-java-edition');
    expect(t.spec).toMatchObject({
      displayName: 'Minecraft Java Edition',
      description: 'Latest Minecraft server',
      image: 'itzg/minecraft-server:latest',
      startCommand: 'java -Xmx{{MEMORY}} -jar server.jar',
      stop: { type: 'command', value: 'stop' },
      ports: [{ containerPort: 25565, protocol: 'TCP' }],
      environment: { JAVA_OPTS: '-Dlevel={{LEVEL}}' },
      configFiles: [
        { path: 'server.properties', parser: 'properties', replace: {} },
        { path: 'config/settings.json', parser: 'json', replace: {} },
      ],
    });
    const vars = Object.fromEntries(t.spec!.variables!.map((v) => [v.name, v]));
    expect(vars.EULA).toMatchObject({ required: true, default: 'TRUE' });
    expect(vars.MEMORY).toMatchObject({ required: true });
    expect(vars.MEMORY!.default).toBeUndefined();
    expect(vars.PORT).toMatchObject({ required: true });
    // A placeholder that names no variable becomes an optional one, so it resolves.
    expect(vars.LEVEL).toMatchObject({ required: false });

    expect(res.body.data).toMatchObject({
      id: 'minecraft-java-edition',
      name: 'Minecraft Java Edition',
      dockerImage: 'itzg/minecraft-server:latest',
      startCommand: 'java -Xmx{{MEMORY}} -jar server.jar',
      stopCommand: 'stop',
      ports: [{ internal: 25565, external: 25565 }],
      environment: { EULA: 'TRUE', MEMORY: '', PORT: '', JAVA_OPTS: '-Dlevel={{LEVEL}}', LEVEL: '' },
      requiredVariables: ['EULA', 'MEMORY', 'PORT'].sort(),
      features: { configFiles: ['/server.properties', '/config/settings.json'] },
    });
    expect(res.body.data.requiredVariables.sort()).toEqual(['EULA', 'MEMORY', 'PORT']);
    expect(res.body.data.createdAt).toMatch(/^\d{4}-/);
    expect((await call(user, 'GET', '/api/templates')).body.data.map((x: { id: string }) => x.id)).toEqual(['minecraft-java-edition']);
    expect((await call(user, 'GET', '/api/templates/minecraft-java-edition')).body.data.dockerImage).toBe('itzg/minecraft-server:latest');
    expect((await call(user, 'GET', '/api/templates/nope')).body).toMatchObject({ statusCode: 404, message: 'Template not found: "nope"' });
    expect((await call(admin, 'POST', '/api/templates', MINECRAFT)).status).toBe(409);
  });

  it('takes Gantry\'s richer fields too, and hides secret defaults from callers without template.read', async () => {
    const res = await call(admin, 'POST', '/api/templates', {
      id: 'testgame2',
      name: 'Test game',
      dockerImage: 'gantry-test/gameserver:1',
      startCommand: '/gameserver.sh',
      stopSignal: 'SIGTERM',
      readyPattern: 'Done!',
      install: { script: 'date > /data/installed' },
      variables: [{ name: 'MOTD', default: 'hi', pattern: '^.{0,10}$' }, { name: 'RCON_PASSWORD', default: 'pw', userViewable: false }],
      configFiles: [{ path: 'server.properties', parser: 'properties', replace: { motd: '{{MOTD}}' } }],
      resources: { memoryMb: 256, cpuCores: 0.5, diskMb: 100 },
      features: { eula: true },
    });
    expect(res.status).toBe(201);
    expect((await stored('testgame2')).spec).toMatchObject({ stop: { type: 'signal', value: 'SIGTERM' }, readyPattern: 'Done!', install: { script: 'date > /data/installed' }, features: ['eula'], resources: { memoryMb: 256 } });
    expect(res.body.data).toMatchObject({ stopCommand: null, stopSignal: 'SIGTERM', features: { configFiles: ['/server.properties'], eula: true } });
    const asUser = (await call(user, 'GET', '/api/templates/testgame2')).body.data;
    expect(asUser.environment).toEqual({ MOTD: 'hi', RCON_PASSWORD: '' });
    expect(asUser.variables.find((v: { name: string }) => v.name === 'RCON_PASSWORD').default).toBeUndefined();
    expect((await call(admin, 'GET', '/api/templates/testgame2')).body.data.environment.RCON_PASSWORD).toBe('pw');
    // The store's schema still applies: a bad variable name or a default that misses its pattern.
    expect((await call(admin, 'POST', '/api/templates', { name: 'bad', dockerImage: 'i', startCommand: 'c', variables: [{ name: 'lower' }] })).status).toBe(400);
    const badDefault = await call(admin, 'POST', '/api/templates', { name: 'bad2', dockerImage: 'i', startCommand: 'c', variables: [{ name: 'A', default: 'long', pattern: '^x$' }] });
    expect(badDefault.status).toBe(400);
    expect(badDefault.body.message).toMatch(/default does not match pattern/);
    expect((await call(admin, 'POST', '/api/templates', { name: 'bad3', dockerImage: 'i', startCommand: 'c', stopCommand: 'stop', stopSignal: 'SIGTERM' })).status).toBe(400);
    expect((await call(admin, 'POST', '/api/templates', { name: 'bad4', startCommand: 'c' })).body.message).toMatch(/dockerImage: is required/);
  });

  it('updates with PUT, keeping what the body leaves out (variable patterns, config file replacements)', async () => {
    await call(admin, 'POST', '/api/templates', { id: 'tg', name: 'TG', dockerImage: 'img:1', startCommand: 'run {{A}}', variables: [{ name: 'A', pattern: '^[a-z]+$', description: 'an a' }], configFiles: [{ path: 'a.properties', parser: 'properties', replace: { a: '{{A}}' } }] });
    const res = await call(admin, 'PUT', '/api/templates/tg', { dockerImage: 'img:2', environment: { A: 'abc', FIXED: '1' }, requiredVariables: ['A'], features: { configFiles: ['/a.properties', '/b.yml'] } });
    expect(res.status).toBe(200);
    const t = await stored('tg');
    expect(t.spec).toMatchObject({ displayName: 'TG', image: 'img:2', startCommand: 'run {{A}}', environment: { FIXED: '1' } });
    expect(t.spec!.variables).toEqual([{ name: 'A', pattern: '^[a-z]+$', description: 'an a', default: 'abc', required: true, userEditable: true, userViewable: true }]);
    expect(t.spec!.configFiles).toEqual([{ path: 'a.properties', parser: 'properties', replace: { a: '{{A}}' } }, { path: 'b.yml', parser: 'yaml', replace: {} }]);
    // Only a description: the rest is untouched.
    await call(admin, 'PUT', '/api/templates/tg', { description: 'new' });
    expect((await stored('tg')).spec).toMatchObject({ description: 'new', image: 'img:2', environment: { FIXED: '1' }, variables: [{ name: 'A', default: 'abc', required: true }] });
    expect((await call(admin, 'PUT', '/api/templates/nope', { description: 'x' })).status).toBe(404);
    expect((await call(user, 'PUT', '/api/templates/tg', { description: 'x' })).status).toBe(403);
  });

  it('refuses to delete a template servers use; deletes it once unused', async () => {
    await call(admin, 'POST', '/api/templates', { id: 'used', name: 'Used', dockerImage: 'i', startCommand: 'c' });
    await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'a', namespace: 'default' }, spec: { templateRef: 'used' } });
    await env.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: 'b', namespace: 'other' }, spec: { templateRef: 'used' } });
    const refused = await call(admin, 'DELETE', '/api/templates/used');
    expect(refused).toMatchObject({ status: 409, body: { reason: 'template_in_use', message: 'Cannot delete template used by 2 server(s): a, b' } });
    expect((await call(user, 'DELETE', '/api/templates/used')).status).toBe(403);
    await env.store.delete('GameServer', 'default', 'a');
    await env.store.delete('GameServer', 'other', 'b');
    expect((await call(admin, 'DELETE', '/api/templates/used')).body).toMatchObject({ success: true, templateId: 'used' });
    expect((await call(admin, 'GET', '/api/templates/used')).status).toBe(404);
    expect((await call(undefined, 'GET', '/api/templates')).status).toBe(401);
  });
});
