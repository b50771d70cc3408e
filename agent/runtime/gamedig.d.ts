// The part of gamedig 5 (plain JavaScript, no bundled types) that agent/runtime/players.ts uses.
declare module 'gamedig' {
  export interface QueryOptions {
    type: string;
    host: string;
    port?: number;
    /** ms per socket operation (default 2000) */
    socketTimeout?: number;
    /** ms per attempt (default 10000) */
    attemptTimeout?: number;
    maxRetries?: number;
    givenPortOnly?: boolean;
    requestPlayers?: boolean;
    portCache?: boolean;
  }
  export interface QueryPlayer {
    name?: string;
    raw?: Record<string, unknown>;
  }
  export interface QueryResult {
    name: string;
    map: string;
    password: boolean;
    numplayers: number;
    maxplayers: number;
    players: QueryPlayer[];
    bots: QueryPlayer[];
    version: string;
    ping: number;
    raw: Record<string, unknown>;
  }
  export class GameDig {
    constructor(runnerOpts?: { listenUdpPort?: number });
    query(options: QueryOptions): Promise<QueryResult>;
    static query(options: QueryOptions): Promise<QueryResult>;
  }
  export const games: Record<string, { name: string; options: { protocol: string; port?: number } }>;
}
