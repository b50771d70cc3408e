import { describe, expect, it } from 'vitest';
import { formatCommand, parseCommand, placeholders, resolveStart, resolveVariables, substitute, TemplateError, type TemplateInput } from '../../agent/template.ts';

const template: TemplateInput = {
  startCommand: 'java -Xms128M -Xmx{{SERVER_MEMORY}}M -jar {{SERVER_JARFILE}} --motd "{{MOTD}}" {{EXTRA}}',
  environment: { LANG: 'C.UTF-8', GREETING: 'hello {{MOTD}}' },
  variables: [
    { name: 'SERVER_JARFILE', default: 'server.jar', required: true, pattern: '^[\\w.-]+\\.jar$' },
    { name: 'MOTD', default: 'A server' },
    { name: 'EXTRA', required: false },
  ],
};

describe('agent/template: resolveStart', () => {
  it('substitutes defaults, server values and builtins; tokenises before substituting', () => {
    const r = resolveStart({ template, serverEnvironment: { MOTD: 'a; rm -rf /data "quoted" $(id)' }, builtins: { SERVER_MEMORY: '1024' } });
    expect(r.argv).toEqual(['java', '-Xms128M', '-Xmx1024M', '-jar', 'server.jar', '--motd', 'a; rm -rf /data "quoted" $(id)']);
    expect(r.env).toMatchObject({ LANG: 'C.UTF-8', GREETING: 'hello a; rm -rf /data "quoted" $(id)', SERVER_JARFILE: 'server.jar', SERVER_MEMORY: '1024', EXTRA: '' });
    expect(parseCommand(r.commandLine)).toEqual(r.argv);
  });

  it('drops an unquoted word that resolves to empty, keeps a quoted empty one', () => {
    const r = resolveStart({ template: { startCommand: 'run {{A}} "{{A}}" x{{A}}', variables: [{ name: 'A' }] } });
    expect(r.argv).toEqual(['run', '', 'x']);
  });

  it('a missing required variable is an error naming it', () => {
    const t: TemplateInput = { startCommand: 'run {{TOKEN}}', variables: [{ name: 'TOKEN', required: true }] };
    expect(() => resolveStart({ template: t })).toThrow(/required variable "TOKEN" has no value/);
    expect(() => resolveStart({ template: t, serverEnvironment: { TOKEN: '' } })).toThrow(TemplateError);
    expect(resolveStart({ template: t, serverEnvironment: { TOKEN: 'abc' } }).argv).toEqual(['run', 'abc']);
  });

  it('a value failing the pattern is an error naming the variable and pattern', () => {
    expect(() => resolveStart({ template, serverEnvironment: { SERVER_JARFILE: '../../etc/passwd' } })).toThrow(/variable "SERVER_JARFILE" value "..\/..\/etc\/passwd" does not match its pattern/);
    const bad: TemplateInput = { variables: [{ name: 'X', default: 'a', pattern: '(' }] };
    expect(() => resolveVariables({ template: bad })).toThrow(/invalid pattern/);
  });

  it('unknown placeholders are errors, in the command and in the environment', () => {
    expect(() => resolveStart({ template: { startCommand: 'run {{NOPE}}' } })).toThrow(/unknown placeholder \{\{NOPE\}\}/);
    expect(() => resolveStart({ template: { environment: { A: '{{HOME}}' } } })).toThrow(/environment.A: unknown placeholder \{\{HOME\}\}/);
    expect(() => substitute('{{not a name}}', {})).toThrow(/invalid placeholder/);
  });

  it('never draws on process.env', () => {
    process.env.GANTRY_SECRET_FOR_TEST = 'leak';
    expect(() => resolveStart({ template: { startCommand: 'x {{GANTRY_SECRET_FOR_TEST}}' } })).toThrow(/unknown placeholder/);
    delete process.env.GANTRY_SECRET_FOR_TEST;
  });

  it('substitution is one pass: a value containing {{X}} stays literal', () => {
    expect(substitute('{{A}}', { A: '{{B}}', B: 'no' })).toBe('{{B}}');
    expect(placeholders('a {{ A }} {{B}} {{A}}')).toEqual(['A', 'B']);
  });

  it('rejects bad names and duplicate variables', () => {
    expect(() => resolveVariables({ template: { variables: [{ name: '1X' }] } })).toThrow(/invalid variable name/);
    expect(() => resolveVariables({ template: { variables: [{ name: 'X' }, { name: 'X' }] } })).toThrow(/declared twice/);
  });
});

describe('agent/template: parseCommand', () => {
  it('handles quotes and escapes like a POSIX shell', () => {
    expect(parseCommand(`a 'b c' "d \\"e\\" \\$f" g\\ h 'it'"'"'s' ""`)).toEqual(['a', 'b c', 'd "e" $f', 'g h', "it's", '']);
    expect(parseCommand('  spaced\t\targs \n')).toEqual(['spaced', 'args']);
    expect(parseCommand("single '$HOME | & ;'")).toEqual(['single', '$HOME | & ;']);
    expect(parseCommand('price 5$ a$')).toEqual(['price', '5$', 'a$']);
  });

  it('keeps {{ ... }} with spaces as part of one word', () => {
    expect(parseCommand('x {{ A }}y')).toEqual(['x', '{{ A }}y']);
  });

  it('refuses shell syntax with an explanation, and unbalanced quotes', () => {
    for (const c of ['a | b', 'a && b', 'a; b', 'a > log', 'echo $HOME', 'echo "${X}"', 'echo `id`', 'echo $(id)', '(sub)']) {
      expect(() => parseCommand(c), c).toThrow(/shell syntax .* run without a shell/);
    }
    expect(() => parseCommand("a 'b")).toThrow(/unbalanced single quote/);
    expect(() => parseCommand('a "b')).toThrow(/unbalanced double quote/);
    expect(() => parseCommand('a {{B')).toThrow(/unterminated placeholder/);
  });

  it('an explicit sh -c keeps its script as one argument', () => {
    expect(parseCommand(`/bin/sh -c 'cd /data && exec ./srv --port "$PORT"'`)).toEqual(['/bin/sh', '-c', 'cd /data && exec ./srv --port "$PORT"']);
  });

  it('formatCommand round-trips', () => {
    const argv = ['a', 'b c', "it's", '', '$x', 'ok=1,2:/p'];
    expect(parseCommand(formatCommand(argv))).toEqual(argv);
    expect(formatCommand(['java', '-jar', 'x.jar'])).toBe('java -jar x.jar');
  });
});
