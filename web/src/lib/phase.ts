// What a server's phase means for the page: its colour and which power actions make sense now.
export type Phase = 'stopped' | 'installing' | 'starting' | 'running' | 'stopping' | 'crashed' | 'transferring' | 'suspended' | 'error';
export type Tone = 'ok' | 'busy' | 'idle' | 'bad';
export type PowerAction = 'start' | 'stop' | 'restart' | 'kill';

export const PHASES: readonly Phase[] = ['running', 'starting', 'installing', 'stopping', 'stopped', 'crashed', 'error', 'suspended', 'transferring'];

export function toneOf(phase: string | null | undefined): Tone {
  switch (phase) {
    case 'running':
      return 'ok';
    case 'starting':
    case 'installing':
    case 'stopping':
    case 'transferring':
      return 'busy';
    case 'crashed':
    case 'error':
      return 'bad';
    default:
      return 'idle';
  }
}

/**
 * The power buttons enabled for a server in `phase` meant to be `desired` (running/stopped). Kill
 * stays available whenever a process may be alive, so a hung stop can be cut short.
 */
export function allowedActions(phase: string | null | undefined, desired: string | null | undefined, suspended: boolean): Set<PowerAction> {
  const out = new Set<PowerAction>();
  if (suspended) return out;
  switch (phase) {
    case 'stopped':
    case 'crashed':
    case 'error':
      out.add('start');
      if (desired === 'running') out.add('stop');
      break;
    case 'running':
      out.add('stop').add('restart').add('kill');
      break;
    case 'starting':
    case 'installing':
      out.add('stop').add('kill');
      break;
    case 'stopping':
      out.add('kill');
      break;
    default:
      break;
  }
  return out;
}

/** The phase a power action leads to: the button shows it as pending until a real transition arrives. */
export function goalOf(action: PowerAction): Phase {
  return action === 'start' || action === 'restart' ? 'running' : 'stopped';
}
