// The CLI's argument forms as the README writes them: `--sftp-port -1` (a negative number after a
// string option) must parse, in the helper and in a real `gantry up` process.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinNegativeValues, parseCliArgs } from '../../bin/args.ts';

const GANTRY = path.resolve(import.meta.dirname, '../../bin/gantry');
const options = { 'sftp-port': { type: 'string' }, namespace: { type: 'string', short: 'n' }, 'no-sftp': { type: 'boolean' } } as const;

describe('negative numbers as option values', () => {
  it('joins a negative number to the string option before it, long and short', () => {
    expect(joinNegativeValues(['--sftp-port', '-1', '-n', '-2', 'x'], options)).toEqual(['--sftp-port=-1', '-n-2', 'x']);
    expect(parseCliArgs({ args: ['--sftp-port', '-1'], options }).values['sftp-port']).toBe('-1');
    expect(parseCliArgs({ args: ['-n', '-3.5'], options }).values.namespace).toBe('-3.5');
  });

  it('leaves options, booleans and the part after -- alone; a missing value is still an error', () => {
    expect(joinNegativeValues(['--no-sftp', '-1'], options)).toEqual(['--no-sftp', '-1']);
    expect(joinNegativeValues(['--', '--sftp-port', '-1'], options)).toEqual(['--', '--sftp-port', '-1']);
    expect(() => parseCliArgs({ args: ['--sftp-port', '--no-sftp'], options })).toThrow(/ambiguous|argument/i);
    expect(() => parseCliArgs({ args: ['--sftp-port', '-x'], options })).toThrow();
  });

  it('`gantry up --sftp-port -1` starts with SFTP off', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-cli-args-'));
    const proc = spawn(GANTRY, ['up', '--sftp-port', '-1', '--port', '0', '--no-agent', '--no-seed', '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GANTRY_LOG_LEVEL: 'info' },
    });
    try {
      const up = await new Promise<Record<string, unknown>>((resolve, reject) => {
        let buf = '';
        const lines: string[] = [];
        proc.stderr.on('data', (d: Buffer) => {
          buf += d.toString();
          const parts = buf.split('\n');
          buf = parts.pop()!;
          for (const l of parts) {
            lines.push(l);
            try {
              const rec = JSON.parse(l) as Record<string, unknown>;
              if (rec.msg === 'gantry is up') resolve(rec);
            } catch {
              // not a log line
            }
          }
        });
        proc.on('exit', (code) => reject(new Error(`gantry up exited with ${code}: ${lines.slice(-5).join('\n')}`)));
      });
      expect(up.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(up).not.toHaveProperty('sftpPort');
    } finally {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
