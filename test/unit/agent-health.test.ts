import { describe, expect, it } from 'vitest';
import { cpuPercentBetween, cpuTimes, parseMemAvailable, parseOsRelease } from '../../agent/runtime/health.ts';

describe('agent/runtime/health: pure parts', () => {
  it('CPU % between two readings of all cores', () => {
    expect(cpuPercentBetween({ idle: 100, total: 200 }, { idle: 150, total: 400 })).toBe(75);
    expect(cpuPercentBetween({ idle: 100, total: 200 }, { idle: 100, total: 200 })).toBeUndefined();
    const t = cpuTimes([{ model: 'x', speed: 1, times: { user: 10, nice: 0, sys: 5, idle: 80, irq: 5 } }]);
    expect(t).toEqual({ idle: 80, total: 100 });
  });

  it('parses MemAvailable and PRETTY_NAME', () => {
    expect(parseMemAvailable('MemTotal:  8000 kB\nMemFree:  100 kB\nMemAvailable:    4096 kB\n')).toBe(4096 * 1024);
    expect(parseMemAvailable('MemTotal: 1 kB\n')).toBeUndefined();
    expect(parseOsRelease('NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')).toBe('Debian GNU/Linux 12 (bookworm)');
  });
});
