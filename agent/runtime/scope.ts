// Which containers on the Docker engine belong to this agent. Several agents may share one engine (two
// GameNodes on one machine, an operator trying multi-node on one box, the test suites): every
// container an agent creates carries `gantry.dev/node=<its node>`, and the agent lists, adopts,
// watches, counts and removes only containers with its own node label. Without that, a second agent's
// adopt() took over the first one's servers and removed its install containers.
//
// Containers made before the label existed (no `gantry.dev/node`) are claimed by the agent whose
// servers root holds their data dir: the `gantry.dev/data-dir` label of a server container, or a bind
// mount source of an install container. Each agent has its own data dir, so exactly one agent can
// claim such a container. Docker cannot add a label to an existing container, so a legacy container
// is claimed that way until it is re-created (a spec change, a reinstall, a transfer), which labels it.
// An agent without a node name (unit tests, embedding) scopes by its extra labels alone, as before.
import path from 'node:path';

export const LABEL_NODE = 'gantry.dev/node';
/** Server uid, role and data dir labels (spec.ts defines them; repeated here to keep this module leaf-level). */
const LABEL_UID = 'gantry.dev/server-uid';
const LABEL_ROLE = 'gantry.dev/role';
const LABEL_DATA_DIR = 'gantry.dev/data-dir';

export interface ContainerScopeOptions {
  /** This agent's GameNode; undefined: no node scoping. */
  nodeName?: string;
  /** Labels put on every container and required when listing (tests: a run id). */
  extraLabels?: Record<string, string>;
  /** The servers root: legacy containers whose data lies inside it are this agent's. */
  dataRoot?: string;
}

/** What a container listing or a Docker event tells about a container. */
export interface ContainerFacts {
  Labels?: Record<string, string>;
  Mounts?: { Source?: string }[];
}

const inside = (root: string, p: string): boolean => {
  const rel = path.relative(root, path.resolve(p));
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
};

export class ContainerScope {
  readonly nodeName: string | undefined;
  private readonly extra: Record<string, string>;
  private readonly root: string | undefined;

  constructor(opts: ContainerScopeOptions = {}) {
    this.nodeName = opts.nodeName || undefined;
    this.extra = { ...opts.extraLabels };
    this.root = opts.dataRoot ? path.resolve(opts.dataRoot) : undefined;
  }

  /** Labels every container this agent creates carries. */
  labels(): Record<string, string> {
    return this.nodeName ? { ...this.extra, [LABEL_NODE]: this.nodeName } : { ...this.extra };
  }

  /**
   * Docker label filters (`k` or `k=v`) for a listing or an event subscription. The node label is not
   * among them (legacy containers lack it): results go through owns().
   */
  filters(role: 'server' | 'install' = 'server', uid?: string): string[] {
    return [uid ? `${LABEL_UID}=${uid}` : LABEL_UID, `${LABEL_ROLE}=${role}`, ...Object.entries(this.extra).map(([k, v]) => `${k}=${v}`)];
  }

  /** True when the container (found through filters()) is this agent's. */
  owns(c: ContainerFacts): boolean {
    if (!this.nodeName) return true;
    const labels = c.Labels ?? {};
    const node = labels[LABEL_NODE];
    if (node !== undefined) return node === this.nodeName;
    if (!this.root) return false;
    const dataDir = labels[LABEL_DATA_DIR];
    if (dataDir) return inside(this.root, dataDir);
    return (c.Mounts ?? []).some((m) => !!m.Source && inside(this.root!, m.Source));
  }
}
