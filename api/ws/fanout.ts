// Fan-out to many client sockets with backpressure, for any socket protocol. ws.send never blocks,
// so one slow client cannot hold the others back; what it costs is memory. So:
//
// - a frame shared by many clients is encoded once (a Buffer) and written to each;
// - droppable frames (log lines, stats) are not sent to a client whose unsent bytes passed
//   `highWaterBytes`; they are counted per subscription until its buffer drains below
//   `lowWaterBytes`, then the protocol is told (`onResumed`) so it can say how many were dropped;
// - undroppable frames (state changes, errors, confirmations) are always sent, and a client that is
//   `maxBufferedBytes` behind anyway is terminated;
// - a batch of frames to one client leaves in one write (writev): ws corks each frame itself, and
//   cork() nests, so the frames leave together at our uncork().
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { Logger } from '../../lib/log.ts';

export interface FanoutLimits {
  /** Unsent bytes past which droppable frames are dropped for that client (default 1 MiB). */
  highWaterBytes: number;
  /** Unsent bytes below which delivery resumes (default 256 KiB). */
  lowWaterBytes: number;
  /** Unsent bytes past which the client is terminated (default 16 MiB): only undroppable frames get here. */
  maxBufferedBytes: number;
}

export const DEFAULT_FANOUT_LIMITS: FanoutLimits = { highWaterBytes: 1024 * 1024, lowWaterBytes: 256 * 1024, maxBufferedBytes: 16 * 1024 * 1024 };

/** What a fan-out writes to. */
export interface FanoutPeer {
  readonly id: number;
  readonly ws: WebSocket;
  /** Set once the client is being closed: nothing more is sent. */
  closing: boolean;
  /** Dropping droppable frames until the send buffer drains. */
  dropping: boolean;
  /** For logs. */
  readonly label: string;
}

/** A subscription's count of frames not delivered since its last notice. */
export interface DropCounter {
  dropped: number;
}

const MIB = 1024 * 1024;

export class Fanout<P extends FanoutPeer> {
  private readonly draining = new Set<P>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly limits: FanoutLimits,
    private readonly log: Logger,
    /** A client that was dropping caught up: tell it what it missed. */
    private readonly onResumed: (peer: P) => void,
  ) {
    this.timer = setInterval(() => this.checkDrained(), 50);
    this.timer.unref();
  }

  /** An undroppable frame. */
  send(peer: P, frame: string | Buffer): void {
    if (peer.closing || peer.ws.readyState !== WebSocket.OPEN) return;
    if (peer.ws.bufferedAmount > this.limits.maxBufferedBytes) {
      this.log.warn('client terminated: not reading', { client: peer.id, user: peer.label, bufferedMiB: Math.round(peer.ws.bufferedAmount / MIB) });
      peer.closing = true;
      peer.ws.terminate();
      return;
    }
    if (typeof frame === 'string') peer.ws.send(frame);
    else peer.ws.send(frame, { binary: false });
  }

  /** A droppable frame: dropped (and counted on `sub`) while the client is not keeping up. */
  sendDroppable(peer: P, sub: DropCounter, frame: Buffer): void {
    if (!peer.dropping && peer.ws.bufferedAmount > this.limits.highWaterBytes) {
      peer.dropping = true;
      this.draining.add(peer);
    }
    if (peer.dropping) {
      sub.dropped++;
      return;
    }
    this.send(peer, frame);
  }

  /** Droppable frames in one write. */
  sendBatch(peer: P, sub: DropCounter, frames: readonly Buffer[]): void {
    const raw = frames.length > 1 ? (peer.ws as unknown as { _socket?: Socket })._socket : undefined;
    raw?.cork();
    for (const f of frames) this.sendDroppable(peer, sub, f);
    raw?.uncork();
  }

  forget(peer: P): void {
    this.draining.delete(peer);
  }

  close(): void {
    clearInterval(this.timer);
    this.draining.clear();
  }

  private checkDrained(): void {
    for (const peer of this.draining) {
      if (peer.closing || peer.ws.readyState !== WebSocket.OPEN) {
        this.draining.delete(peer);
        continue;
      }
      if (peer.ws.bufferedAmount > this.limits.lowWaterBytes) continue;
      peer.dropping = false;
      this.draining.delete(peer);
      this.onResumed(peer);
    }
  }
}
