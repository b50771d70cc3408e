// A deliberately small subset of CEL for the `x-kubernetes-validations` rules in our CRDs.
// A real apiserver evaluates those rules with full CEL; the embedded store evaluates them here, so the
// cross-field checks stay in the CRD files like every other check. A rule outside the subset fails to
// compile when the CRDs load: no rule is ever silently left unenforced.
//
// Subset: `self`, field access `a.b`, `has(a.b)`, literals (numbers, 'strings', "strings", true,
// false, null), `! && ||`, `== != < <= > >=`, parentheses, `size(x)`, `x.size()`, and the string
// methods `matches` (unanchored, like CEL), `contains`, `startsWith`, `endsWith`.
// Field names follow the apiserver's escaping: a CEL reserved word is written `__namespace__`, and
// `__dash__`, `__dot__`, `__slash__`, `__underscores__` stand for '-', '.', '/', '__'. A reserved word
// left unescaped is refused, as the apiserver would.

type Expr =
  | { t: 'lit'; v: unknown }
  | { t: 'self' }
  | { t: 'field'; of: Expr; name: string }
  | { t: 'has'; of: Expr; name: string }
  | { t: 'call'; name: string; target: Expr; args: Expr[] }
  | { t: 'not'; x: Expr }
  | { t: 'bin'; op: string; l: Expr; r: Expr };

export type CompiledRule = (self: unknown) => boolean;

const TOKEN = /\s*(?:(\d+(?:\.\d+)?)|('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(&&|\|\||==|!=|<=|>=|[<>!().,])|([A-Za-z_][A-Za-z0-9_]*))/y;
const METHODS = new Set(['matches', 'contains', 'startsWith', 'endsWith', 'size']);
const COMPARE = new Set(['==', '!=', '<', '<=', '>', '>=']);
const RESERVED = new Set(['as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while', 'in', 'true', 'false', 'null']);
const ESCAPES: Record<string, string> = { underscores: '__', dot: '.', dash: '-', slash: '/' };

function fieldName(name: string): string {
  if (RESERVED.has(name)) throw new Error(`"${name}" is a CEL reserved word: write __${name}__`);
  const m = /^__([a-z]+)__$/.exec(name);
  if (m && RESERVED.has(m[1])) return m[1];
  return name.replace(/__(underscores|dot|dash|slash)__/g, (_, e: string) => ESCAPES[e]);
}

function tokenize(src: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < src.length) {
    if (/^\s*$/.test(src.slice(TOKEN.lastIndex))) break;
    const start = TOKEN.lastIndex;
    const m = TOKEN.exec(src);
    if (!m) throw new Error(`unsupported syntax at offset ${start}: "${src.slice(start)}"`);
    out.push(m[1] ?? m[2] ?? m[3] ?? m[4]);
  }
  return out;
}

function parse(src: string): Expr {
  const toks = tokenize(src);
  let i = 0;
  const peek = () => toks[i];
  const take = (want?: string) => {
    const tok = toks[i++];
    if (tok === undefined || (want !== undefined && tok !== want)) throw new Error(`expected ${want ?? 'more'} but found ${tok ?? 'end of rule'}`);
    return tok;
  };
  const or = (): Expr => {
    let l = and();
    while (peek() === '||') { take(); l = { t: 'bin', op: '||', l, r: and() }; }
    return l;
  };
  const and = (): Expr => {
    let l = rel();
    while (peek() === '&&') { take(); l = { t: 'bin', op: '&&', l, r: rel() }; }
    return l;
  };
  const rel = (): Expr => {
    const l = unary();
    return COMPARE.has(peek()) ? { t: 'bin', op: take(), l, r: unary() } : l;
  };
  const unary = (): Expr => (peek() === '!' ? (take(), { t: 'not', x: unary() }) : postfix());
  const args = (): Expr[] => {
    take('(');
    const list: Expr[] = [];
    while (peek() !== ')') {
      list.push(or());
      if (peek() !== ')') take(',');
    }
    take(')');
    return list;
  };
  const postfix = (): Expr => {
    let e = primary();
    while (peek() === '.') {
      take();
      const name = take();
      if (!/^[A-Za-z_]\w*$/.test(name)) throw new Error(`expected a field name after "." but found ${name}`);
      if (peek() === '(') {
        if (!METHODS.has(name)) throw new Error(`method ${name}() is not supported`);
        e = { t: 'call', name, target: e, args: args() };
      } else {
        e = { t: 'field', of: e, name: fieldName(name) };
      }
    }
    return e;
  };
  const primary = (): Expr => {
    const tok = take();
    if (/^\d/.test(tok)) return { t: 'lit', v: Number(tok) };
    if (tok[0] === "'" || tok[0] === '"') return { t: 'lit', v: tok.slice(1, -1).replace(/\\(.)/g, '$1') };
    if (tok === 'true' || tok === 'false') return { t: 'lit', v: tok === 'true' };
    if (tok === 'null') return { t: 'lit', v: null };
    if (tok === 'self') return { t: 'self' };
    if (tok === '(') { const e = or(); take(')'); return e; }
    if (tok === 'has') {
      const [arg] = args();
      if (arg?.t !== 'field') throw new Error('has() takes a field selection such as has(self.x)');
      return { t: 'has', of: arg.of, name: arg.name };
    }
    if (tok === 'size') {
      const [arg] = args();
      return { t: 'call', name: 'size', target: arg, args: [] };
    }
    throw new Error(`unsupported token ${tok}`);
  };
  const expr = or();
  if (i < toks.length) throw new Error(`unexpected ${toks[i]}`);
  return expr;
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function evaluate(e: Expr, self: unknown): unknown {
  switch (e.t) {
    case 'lit': return e.v;
    case 'self': return self;
    case 'field': {
      const of = evaluate(e.of, self);
      if (!isMap(of) || of[e.name] === undefined) throw new Error(`no such key: ${e.name}`);
      return of[e.name];
    }
    case 'has': {
      const of = evaluate(e.of, self);
      if (!isMap(of)) throw new Error(`has() on a non-object`);
      return of[e.name] !== undefined;
    }
    case 'not': return !bool(evaluate(e.x, self));
    case 'call': {
      const target = evaluate(e.target, self);
      const args = e.args.map((a) => evaluate(a, self));
      if (e.name === 'size') {
        if (typeof target === 'string' || Array.isArray(target)) return target.length;
        if (isMap(target)) return Object.keys(target).length;
        throw new Error('size() of a non-collection');
      }
      const [arg] = args;
      if (typeof target !== 'string' || typeof arg !== 'string' || args.length !== 1) throw new Error(`${e.name}() takes a string and one string argument`);
      if (e.name === 'matches') return new RegExp(arg, 'u').test(target); // 'u' like ajv's pattern and the agent's variable check
      if (e.name === 'contains') return target.includes(arg);
      if (e.name === 'startsWith') return target.startsWith(arg);
      return target.endsWith(arg);
    }
    case 'bin': {
      if (e.op === '&&') return bool(evaluate(e.l, self)) && bool(evaluate(e.r, self));
      if (e.op === '||') return bool(evaluate(e.l, self)) || bool(evaluate(e.r, self));
      const l = evaluate(e.l, self);
      const r = evaluate(e.r, self);
      if (e.op === '==') return l === r;
      if (e.op === '!=') return l !== r;
      if (!((typeof l === 'number' && typeof r === 'number') || (typeof l === 'string' && typeof r === 'string'))) {
        throw new Error(`cannot compare ${typeof l} with ${typeof r}`);
      }
      return e.op === '<' ? l < r : e.op === '<=' ? l <= r : e.op === '>' ? l > r : l >= r;
    }
  }
}

function bool(v: unknown): boolean {
  if (typeof v !== 'boolean') throw new Error(`expected a boolean, got ${JSON.stringify(v)}`);
  return v;
}

const cache = new Map<string, CompiledRule>();

/** Compiles a rule; throws (with the rule in the message) when it is outside the supported subset. */
export function compileRule(rule: string): CompiledRule {
  let fn = cache.get(rule);
  if (!fn) {
    let expr: Expr;
    try {
      expr = parse(rule);
    } catch (err) {
      throw new Error(`rule "${rule}": ${(err as Error).message} (only a small CEL subset is supported, see crds/cel.ts)`);
    }
    fn = (self) => bool(evaluate(expr, self));
    cache.set(rule, fn);
  }
  return fn;
}
