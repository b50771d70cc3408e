// Typed failures of hub RPCs. Every one names the node and the method; `code` is machine-readable:
// the agent's own code (invalid_params, not_found, image_unavailable, disk_limit, timeout, failed,
// unknown_method) for AgentRpcError, or one of the hub's (not_connected, disconnected, timeout,
// invalid_params, send_failed, rejected, closed).
import type { RpcMethod } from '../../agent/protocol.ts';

export class RpcError extends Error {
  readonly code: string;
  readonly nodeName: string;
  readonly method: RpcMethod;
  constructor(code: string, nodeName: string, method: RpcMethod, message: string) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
    this.nodeName = nodeName;
    this.method = method;
  }
}

/** The agent answered the call with an error (its code and message). */
export class AgentRpcError extends RpcError {
  readonly agentMessage: string;
  constructor(nodeName: string, method: RpcMethod, code: string, agentMessage: string) {
    super(code, nodeName, method, `node "${nodeName}" ${method} failed (${code}): ${agentMessage}`);
    this.name = 'AgentRpcError';
    this.agentMessage = agentMessage;
  }
}

/** No answer within the timeout. The agent may still be working on it. */
export class RpcTimeoutError extends RpcError {
  readonly timeoutMs: number;
  constructor(nodeName: string, method: RpcMethod, timeoutMs: number) {
    super('timeout', nodeName, method, `node "${nodeName}" did not answer ${method} within ${timeoutMs} ms`);
    this.name = 'RpcTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

/** The node has no agent connected (the call was never sent). */
export class NodeNotConnectedError extends RpcError {
  constructor(nodeName: string, method: RpcMethod) {
    super('not_connected', nodeName, method, `node "${nodeName}" has no agent connected; cannot call ${method}`);
    this.name = 'NodeNotConnectedError';
  }
}

/** The agent's connection ended while the call was pending: its outcome is unknown. */
export class NodeDisconnectedError extends RpcError {
  constructor(nodeName: string, method: RpcMethod, why: string) {
    super('disconnected', nodeName, method, `node "${nodeName}" disconnected before answering ${method} (${why}); the outcome is unknown`);
    this.name = 'NodeDisconnectedError';
  }
}

export const isRpcError = (e: unknown, code?: string): e is RpcError => e instanceof RpcError && (code === undefined || e.code === code);
