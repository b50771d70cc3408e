// What the web panel added to the public API, through the real app and store: Pterodactyl egg import
// (POST /api/templates/import/pterodactyl), a server's activity (GET /api/servers/:id/activity, bound
// to the server's uid), and download tokens for one backup archive (scoped: never another file or backup).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GameServer } from '../../crds/types.ts';
import { openApiApp, signIn, signInAdmin, type ApiApp, type SignedIn } from '../helpers/api.ts';
import { convertEgg, mapPlaceholders, rulesToConstraints } from '../../api/import/pterodactyl-egg.ts';

const PAPER_EGG = {
  _comment: 'DO NOT EDIT: FILE GENERATED AUTOMATICALLY BY PTERODACTYL PANEL - PTERODACTYL.IO',
  meta: { version: 'PTDL_v2', update_url: null },
  exported_at: '2024-01-01T00:00:00+00:00',
  name: 'Paper',
  author: 'parker@pterodactyl.io',
  description: 'High performance Spigot fork that aims to fix gameplay and mechanics inconsistencies.',
  features: ['eula', 'java_version', 'pid_limit'],
  docker_images: { 'Java 21': 'ghcr.io/pterodactyl/yolks:java_21', 'Java 17': 'ghcr.io/pterodactyl/yolks:java_17' },
  file_denylist: [],
  startup: 'java -Xms128M -XX:MaxRAMPercentage=95.0 -Dterminal.jline=false -Dterminal.ansi=true -jar {{SERVER_JARFILE}}',
  config: {
    files: '{\r\n    "server.properties": {\r\n        "parser": "properties",\r\n        "find": {\r\n            "server-ip": "0.0.0.0",\r\n            "server-port": "{{server.build.default.port}}",\r\n            "query.port": "{{server.build.default.port}}"\r\n        }\r\n    },\r\n    "bukkit.xml": {\r\n        "parser": "xml",\r\n        "find": {}\r\n    }\r\n}',
    startup: '{\r\n    "done": ")! For help, type "\r\n}',
    logs: '{}',
    stop: 'stop',
  },
  scripts: { installation: { script: '#!/bin/ash\r\ncd /mnt/server\r\necho installing', container: 'ghcr.io/pterodactyl/installers:alpine', entrypoint: 'ash' } },
  variables: [
    { name: 'Minecraft Version', description: 'The version of minecraft to download.', env_variable: 'MINECRAFT_VERSION', default_value: 'latest', user_viewable: true, user_editable: true, rules: 'nullable|string|max:20', field_type: 'text' },
    { name: 'Server Jar File', description: 'The name of the server jarfile to run the server with.', env_variable: 'SERVER_JARFILE', default_value: 'server.jar', user_viewable: true, user_editable: true, rules: 'required|regex:/^([\\w\\d._-]+)(\\.jar)$/', field_type: 'text' },
    { name: 'Build Number', description: 'The build number.', env_variable: 'BUILD_NUMBER', default_value: 'latest', user_viewable: true, user_editable: false, rules: 'required|string|max:20', field_type: 'text' },
    { name: 'bad', env_variable: 'lower-case', default_value: '', rules: 'string' },
  ],
};

describe('egg conversion (pure)', () => {
  it('converts a Paper egg: images, commands, ready line, config files, install, variables; says what it left out', () => {
    const { name, spec, warnings } = convertEgg(PAPER_EGG);
    expect(name).toBe('Paper');
    expect(spec.image).toBe('ghcr.io/pterodactyl/yolks:java_21');
    expect(spec.images).toEqual(PAPER_EGG.docker_images);
    expect(spec.startCommand).toBe(PAPER_EGG.startup);
    expect(spec.stop).toEqual({ type: 'command', value: 'stop' });
    expect(new RegExp(spec.readyPattern!).test('[12:00:00 INFO]: Done (3.2s)! For help, type "help"')).toBe(true);
    expect(new RegExp(spec.readyPattern!).test('Done (3.2s) For help')).toBe(false);
    expect(spec.configFiles).toEqual([{ path: 'server.properties', parser: 'properties', replace: { 'server-ip': '0.0.0.0', 'server-port': '{{SERVER_PORT}}', 'query.port': '{{SERVER_PORT}}' } }]);
    expect(spec.install).toEqual({ script: '#!/bin/ash\ncd /mnt/server\necho installing', image: 'ghcr.io/pterodactyl/installers:alpine', entrypoint: 'ash' });
    expect(spec.variables).toEqual([
      { name: 'MINECRAFT_VERSION', displayName: 'Minecraft Version', description: 'The version of minecraft to download.', default: 'latest', pattern: '^.{0,20}$' },
      { name: 'SERVER_JARFILE', displayName: 'Server Jar File', description: 'The name of the server jarfile to run the server with.', default: 'server.jar', required: true, pattern: '^([\\w\\d._-]+)(\\.jar)$' },
      { name: 'BUILD_NUMBER', displayName: 'Build Number', description: 'The build number.', default: 'latest', required: true, pattern: '^.{0,20}$', userEditable: false },
    ]);
    expect(warnings.join('\n')).toMatch(/bukkit\.xml: parser "xml" is not supported/);
    expect(warnings.join('\n')).toMatch(/"lower-case" is not a variable name/);
    expect(warnings.join('\n')).toMatch(/\/mnt\/server/);
  });

  it('v1 eggs, ^C stops, placeholders and rules', () => {
    const v1 = convertEgg({ meta: { version: 'PTDL_v1' }, name: 'Old', docker_image: 'quay.io/x:1', startup: './run.sh --port {{SERVER_PORT}}', config: { stop: '^C', startup: '{"done":"regex:^Ready$"}' } });
    expect(v1.spec).toMatchObject({ image: 'quay.io/x:1', stop: { type: 'signal', value: 'SIGINT' }, readyPattern: '^Ready$' });
    expect(convertEgg({ name: 'Sh', docker_image: 'a', startup: 'if [ -f x ]; then ./x; fi' }).warnings.join()).toContain('shell syntax');
    expect(mapPlaceholders('{{server.build.env.SERVER_PORT}} {{env.MOTD}} {{server.build.memory}} {{ server.build.default.ip }}')).toBe('{{SERVER_PORT}} {{MOTD}} {{SERVER_MEMORY}} {{SERVER_IP}}');
    expect(rulesToConstraints('required|in:survival,creative')).toEqual({ required: true, pattern: '^(survival|creative)$' });
    expect(rulesToConstraints('nullable|integer')).toEqual({ required: false, pattern: '^-?[0-9]+$' });
    expect(rulesToConstraints('required|boolean').pattern).toBe('^(0|1|true|false)$');
  });

  it('refuses what is not an egg, naming what is missing', () => {
    expect(() => convertEgg([])).toThrow(/JSON object/);
    expect(() => convertEgg({ docker_image: 'a', startup: 'x' })).toThrow(/no "name"/);
    expect(() => convertEgg({ name: 'x', startup: 'x' })).toThrow(/no image/);
    expect(() => convertEgg({ name: 'x', docker_image: 'a' })).toThrow(/no "startup"/);
    expect(convertEgg({ name: 'x', docker_image: 'a', startup: 's', config: { files: '{not json' } }).warnings).toEqual(['config.files is not valid JSON and was ignored']);
  });
});

describe('web additions to the API', () => {
  let api: ApiApp;
  let admin: SignedIn;
  let owner: SignedIn;
  let other: SignedIn;

  const makeServer = async (name: string, ownerId: string) =>
    api.env.store.create<GameServer>({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name, namespace: 'default' }, spec: { templateRef: 'testgame', owner: ownerId } } as GameServer);

  beforeAll(async () => {
    api = await openApiApp();
    admin = await signInAdmin(api.svc, 'web-api-admin');
    owner = await signIn(api.svc, 'web-api-owner');
    other = await signIn(api.svc, 'web-api-other');
    const tmpl = (await import('yaml')).parse(await readFile(path.resolve(import.meta.dirname, '../../manifests/examples/template-testgame.yaml'), 'utf8'));
    await api.env.store.create(tmpl);
  });
  afterAll(async () => {
    await api.env.close();
  });

  it('imports an egg: dry run writes nothing, create answers the template and warnings, a second import conflicts', async () => {
    const dry = await api.as(admin, 'POST', '/api/templates/import/pterodactyl?dryRun=true', PAPER_EGG);
    expect(dry.status).toBe(200);
    expect(dry.body.data).toMatchObject({ dryRun: true, template: { id: 'paper', name: 'Paper', dockerImage: 'ghcr.io/pterodactyl/yolks:java_21' } });
    expect((await api.as(admin, 'GET', '/api/templates/paper')).status).toBe(404);
    const created = await api.as(admin, 'POST', '/api/templates/import/pterodactyl', PAPER_EGG);
    expect(created.status).toBe(201);
    expect(created.body.data.warnings.length).toBeGreaterThan(0);
    const t = await api.as(admin, 'GET', '/api/templates/paper');
    expect(t.body.data.variables.map((v: { name: string }) => v.name)).toEqual(['MINECRAFT_VERSION', 'SERVER_JARFILE', 'BUILD_NUMBER']);
    const again = await api.as(admin, 'POST', '/api/templates/import/pterodactyl', PAPER_EGG);
    expect(again.status).toBe(409);
    expect(again.body.message).toContain('?id=');
    expect((await api.as(admin, 'POST', '/api/templates/import/pterodactyl?id=paper-2', PAPER_EGG)).status).toBe(201);
    expect((await api.as(admin, 'POST', '/api/templates/import/pterodactyl?id=Bad_Id', PAPER_EGG)).status).toBe(400);
    expect((await api.as(owner, 'POST', '/api/templates/import/pterodactyl', PAPER_EGG)).status).toBe(403);
    const garbage = await api.as(admin, 'POST', '/api/templates/import/pterodactyl', '{"name": 1');
    expect(garbage.status).toBe(400);
    const notEgg = await api.as(admin, 'POST', '/api/templates/import/pterodactyl', { hello: 'world' });
    expect([notEgg.status, notEgg.body.message]).toEqual([400, 'the egg has no "name"']);
  });

  it('activity: the owner sees their server\'s entries, no IPs; a re-created server does not inherit them', async () => {
    const first = await makeServer('web-act', owner.userId);
    expect((await api.as(owner, 'PUT', '/api/servers/web-act', { description: 'first life' })).status).toBe(200);
    const act = await api.as(owner, 'GET', '/api/servers/web-act/activity');
    expect(act.status).toBe(200);
    expect(act.body.data).toEqual([expect.objectContaining({ action: 'server.update', username: 'web-api-owner', ipAddress: null, metadata: expect.objectContaining({ serverUid: first.metadata.uid }) })]);
    expect((await api.as(other, 'GET', '/api/servers/web-act/activity')).status).toBe(404);
    const asAdmin = await api.as(admin, 'GET', '/api/servers/web-act/activity');
    expect(asAdmin.body.data[0]).toHaveProperty('ipAddress');

    // Deleted and re-created under the same name for someone else: an empty history.
    await api.env.store.delete('GameServer', 'default', 'web-act');
    await makeServer('web-act', other.userId);
    const fresh = await api.as(other, 'GET', '/api/servers/web-act/activity');
    expect(fresh.status).toBe(200);
    expect(fresh.body.data).toEqual([]);
    expect((await api.as(other, 'GET', '/api/servers/web-act/activity?before=abc')).status).toBe(400);
  });

  it('download tokens open exactly one file or one backup, never the other', async () => {
    await makeServer('web-dl', owner.userId);
    const fileTok = await api.as(owner, 'POST', '/api/auth/tokens', { purpose: 'download', serverId: 'web-dl', path: '/a.txt' });
    expect(fileTok.status).toBe(200);
    const backupTok = await api.as(owner, 'POST', '/api/auth/tokens', { purpose: 'download', serverId: 'web-dl', backupId: 'web-dl-b1' });
    expect(backupTok.body.data).toMatchObject({ purpose: 'download', serverId: 'web-dl', backupId: 'web-dl-b1' });
    const ft = encodeURIComponent(fileTok.body.data.token);
    const bt = encodeURIComponent(backupTok.body.data.token);
    const asFile = await api.call('GET', `/api/servers/web-dl/backups/web-dl-b1/download?token=${ft}`);
    expect([asFile.status, asFile.body.reason]).toEqual([403, 'token_scope']);
    const otherBackup = await api.call('GET', `/api/servers/web-dl/backups/web-dl-b2/download?token=${bt}`);
    expect([otherBackup.status, otherBackup.body.reason]).toEqual([403, 'token_scope']);
    const asBackup = await api.call('GET', `/api/servers/web-dl/files/download?path=${encodeURIComponent('/a.txt')}&token=${bt}`);
    expect([asBackup.status, asBackup.body.reason]).toEqual([403, 'token_scope']);
    // The right token passes the scope check and reaches the backup lookup (none exists here).
    expect((await api.call('GET', `/api/servers/web-dl/backups/web-dl-b1/download?token=${bt}`)).status).toBe(404);
    for (const body of [{ purpose: 'download', serverId: 'web-dl' }, { purpose: 'download', serverId: 'web-dl', path: '/a', backupId: 'b' }, { purpose: 'websocket', backupId: 'b' }]) {
      const r = await api.as(owner, 'POST', '/api/auth/tokens', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
    }
    expect((await api.as(other, 'POST', '/api/auth/tokens', { purpose: 'download', serverId: 'web-dl', backupId: 'web-dl-b1' })).status).toBe(404);
  });
});
