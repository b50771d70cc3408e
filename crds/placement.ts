// Which node a GameServer is on. Two fields answer it and they mean different things:
//
//   spec.nodeName   = the binding: where the server is meant to be (the scheduler, an operator or a
//                     transfer writes it);
//   status.nodeName = admission: where its container and data are (the scheduler writes it once the
//                     binding was checked; a transfer moves it when the data has moved).
//
// Before admission only the binding may be set; after it both are, and they differ exactly while a
// transfer is under way (spec = the target, status = the source still holding the data). Every reader
// picks the meaning it needs from here, by name, instead of writing `status ?? spec` or `spec ?? status`
// inline (test/unit/placement.test.ts fails on such inline precedence anywhere else):
//
// | reader                                              | accessor        | during a transfer |
// | --------------------------------------------------- | --------------- | ----------------- |
// | files, console, logs, SFTP, backups, restores, stats | dataNode        | the source        |
// | what a server list/detail shows as its node, reachability | currentNode | the source        |
// | resource fit of new limits, host-port allocation    | targetNode      | the target        |
// | "servers on node X" filters, resources held          | nodesOf/isOnNode | both             |
// | the scheduler: needs admission?                      | isAdmitted      | yes (admitted)    |
//
// Empty strings count as unset (a merge patch or a hand-written manifest may leave `nodeName: ""`).

/** The part of a GameServer placement reads; structural so plan code can pass a status in progress. */
export interface Placed {
  spec?: { nodeName?: string | null } | null;
  status?: { nodeName?: string | null; transfer?: { phase?: string } | null } | null;
}

const set = (v: string | null | undefined): string | undefined => (v ? v : undefined);

/** Where the server's container and data are (status.nodeName); undefined before admission. */
export function dataNode(s: Placed): string | undefined {
  return set(s.status?.nodeName);
}

/** Where the server is meant to be (spec.nodeName); undefined while unscheduled. */
export function boundNode(s: Placed): string | undefined {
  return set(s.spec?.nodeName);
}

/** The scheduler admitted it to a node: resources and ports were checked, the data lives there. */
export function isAdmitted(s: Placed): boolean {
  return dataNode(s) !== undefined;
}

/** Admitted on one node and bound to another: the data is still on dataNode, on its way to boundNode. */
export function isTransferring(s: Placed): boolean {
  const from = dataNode(s);
  const to = boundNode(s);
  return from !== undefined && to !== undefined && from !== to;
}

/**
 * The data is being moved, or about to be: asked for (isTransferring) or streaming (the transfer
 * controller's status.transfer, which also covers a cancel waiting for its stream to stop). Changes to
 * the files would be made on the source after its bytes went, and lost with it: they wait.
 */
export function isMoving(s: Placed): boolean {
  return isTransferring(s) || s.status?.transfer?.phase === 'Streaming';
}

/** The node of a transfer under way (its target), else undefined. */
export function transferTarget(s: Placed): string | undefined {
  return isTransferring(s) ? boundNode(s) : undefined;
}

/**
 * The node the server is on now: where its data is, else (before admission) where it is bound to go.
 * What lists and details show as the server's node, and whose outage makes it unreachable.
 */
export function currentNode(s: Placed): string | undefined {
  return dataNode(s) ?? boundNode(s);
}

/**
 * The node the server will run on: its binding, else where it already is. New resource limits and
 * host ports are checked there (during a transfer: on the target).
 */
export function targetNode(s: Placed): string | undefined {
  return boundNode(s) ?? dataNode(s);
}

/** Every node the server holds resources on: its binding and, when different, where its data still is. */
export function nodesOf(s: Placed): string[] {
  const bound = boundNode(s);
  const data = dataNode(s);
  if (bound && data && bound !== data) return [bound, data];
  return bound ? [bound] : data ? [data] : [];
}

/** Bound to `node` or holding data there: the meaning of "servers on node X" in filters and counts. */
export function isOnNode(s: Placed, node: string): boolean {
  return boundNode(s) === node || dataNode(s) === node;
}

/** Where a server's data lives on its node, relative to the agent's servers root. */
export function dataDirOf(server: { metadata: { namespace?: string; name: string } }): string {
  return `${server.metadata.namespace ?? 'default'}/${server.metadata.name}`;
}
