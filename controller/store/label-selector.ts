// Kubernetes label selectors (the string form of ?labelSelector=): `a=b`, `a==b`, `a!=b`,
// `a in (x,y)`, `a notin (x,y)`, `a`, `!a`, comma-separated and all of them required.
import { badRequest } from './errors.ts';

export type Operator = 'Equals' | 'NotEquals' | 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface Requirement {
  key: string;
  operator: Operator;
  values: string[];
}

export interface LabelSelector {
  readonly requirements: readonly Requirement[];
  /** True for the empty selector, which matches everything. */
  readonly empty: boolean;
  matches(labels: Readonly<Record<string, string>> | undefined): boolean;
  /** Canonical form: equal selectors written differently print the same. */
  toString(): string;
}

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `key` is not a valid label key (`[prefix/]name`), or undefined when it is. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `prefix "${prefix}" must be a lowercase DNS subdomain of at most 253 characters`;
  }
  if (name.length === 0 || name.length > 63 || !NAME.test(name)) {
    return `name part "${name}" must be 1-63 characters of [A-Za-z0-9-_.], starting and ending with a letter or digit`;
  }
  return undefined;
}

/** Why `value` is not a valid label value, or undefined when it is (the empty string is valid). */
export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63 || !NAME.test(value)) {
    return `value "${value}" must be at most 63 characters of [A-Za-z0-9-_.], starting and ending with a letter or digit`;
  }
  return undefined;
}

type Token =
  | { t: 'word'; v: string; pos: number }
  | { t: '!' | '=' | '==' | '!=' | '(' | ')' | ',' | 'end'; pos: number };

function tokenize(s: string, fail: (msg: string, pos: number) => never): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '!' && s[i + 1] === '=') {
      out.push({ t: '!=', pos: i });
      i += 2;
    } else if (c === '=' && s[i + 1] === '=') {
      out.push({ t: '==', pos: i });
      i += 2;
    } else if (c === '!' || c === '=' || c === '(' || c === ')' || c === ',') {
      out.push({ t: c, pos: i });
      i++;
    } else if (/[A-Za-z0-9._/-]/.test(c)) {
      const start = i;
      while (i < s.length && /[A-Za-z0-9._/-]/.test(s[i]!)) i++;
      out.push({ t: 'word', v: s.slice(start, i), pos: start });
    } else if (c === '<' || c === '>') {
      fail(`operator "${c}" is not supported (use =, ==, !=, in, notin, exists or !exists)`, i);
    } else {
      fail(`unexpected character "${c}"`, i);
    }
  }
  out.push({ t: 'end', pos: s.length });
  return out;
}

const EVERYTHING: LabelSelector = {
  requirements: [],
  empty: true,
  matches: () => true,
  toString: () => '',
};

/** Parses a selector; malformed input throws StoreError BadRequest naming the position. */
export function parseLabelSelector(selector: string | undefined): LabelSelector {
  if (selector === undefined || selector.trim() === '') return EVERYTHING;
  const fail = (msg: string, pos: number): never => {
    throw badRequest(`invalid label selector "${selector}": ${msg} (at position ${pos})`);
  };
  const tokens = tokenize(selector, fail);
  let i = 0;
  const peek = () => tokens[i]!;
  const next = () => tokens[i++]!;
  const describe = (tok: Token) => (tok.t === 'word' ? `"${tok.v}"` : tok.t === 'end' ? 'end of selector' : `"${tok.t}"`);

  const key = (): string => {
    const tok = next();
    if (tok.t !== 'word') fail(`expected a label key, found ${describe(tok)}`, tok.pos);
    const k = (tok as { v: string }).v;
    const problem = labelKeyProblem(k);
    if (problem) fail(`invalid key "${k}": ${problem}`, tok.pos);
    return k;
  };
  const value = (tok: Token & { t: 'word' }): string => {
    const problem = labelValueProblem(tok.v);
    if (problem) fail(`invalid ${problem}`, tok.pos);
    return tok.v;
  };
  const valueSet = (op: string): string[] => {
    const open = next();
    if (open.t !== '(') fail(`expected "(" after "${op}", found ${describe(open)}`, open.pos);
    const values: string[] = [];
    for (;;) {
      const tok = next();
      if (tok.t !== 'word') fail(`expected a value in the "${op}" set, found ${describe(tok)}`, tok.pos);
      values.push(value(tok as Token & { t: 'word' }));
      const sep = next();
      if (sep.t === ')') return values;
      if (sep.t !== ',') fail(`expected "," or ")" in the "${op}" set, found ${describe(sep)}`, sep.pos);
    }
  };

  const requirements: Requirement[] = [];
  for (;;) {
    const start = peek();
    let req: Requirement;
    if (start.t === '!') {
      next();
      req = { key: key(), operator: 'DoesNotExist', values: [] };
    } else {
      const k = key();
      const op = peek();
      if (op.t === ',' || op.t === 'end') {
        req = { key: k, operator: 'Exists', values: [] };
      } else if (op.t === '=' || op.t === '==' || op.t === '!=') {
        next();
        const v = peek();
        // `a=` selects labels whose value is the empty string.
        const val = v.t === 'word' ? value(next() as Token & { t: 'word' }) : '';
        if (v.t !== 'word' && v.t !== ',' && v.t !== 'end') fail(`expected a value after "${op.t}", found ${describe(v)}`, v.pos);
        req = { key: k, operator: op.t === '!=' ? 'NotEquals' : 'Equals', values: [val] };
      } else if (op.t === 'word' && (op.v === 'in' || op.v === 'notin')) {
        next();
        req = { key: k, operator: op.v === 'in' ? 'In' : 'NotIn', values: valueSet(op.v) };
      } else {
        fail(`expected =, ==, !=, in, notin, "," or end after key "${k}", found ${describe(op)}`, op.pos);
      }
    }
    requirements.push(req!);
    const sep = next();
    if (sep.t === 'end') break;
    if (sep.t !== ',') fail(`expected "," between requirements, found ${describe(sep)}`, sep.pos);
    if (peek().t === 'end') fail('trailing ","', sep.pos);
  }
  return compile(requirements);
}

function compile(requirements: Requirement[]): LabelSelector {
  const canonical = requirements
    .map((r) => {
      const vs = [...new Set(r.values)].sort();
      switch (r.operator) {
        case 'Exists':
          return r.key;
        case 'DoesNotExist':
          return `!${r.key}`;
        case 'Equals':
          return `${r.key}=${vs[0]}`;
        case 'NotEquals':
          return `${r.key}!=${vs[0]}`;
        case 'In':
          return `${r.key} in (${vs.join(',')})`;
        case 'NotIn':
          return `${r.key} notin (${vs.join(',')})`;
      }
    })
    .sort()
    .join(',');
  return {
    requirements,
    empty: requirements.length === 0,
    toString: () => canonical,
    matches(labels) {
      const l = labels ?? {};
      return requirements.every((r) => {
        const has = Object.prototype.hasOwnProperty.call(l, r.key);
        const v = l[r.key];
        switch (r.operator) {
          case 'Exists':
            return has;
          case 'DoesNotExist':
            return !has;
          case 'Equals':
          case 'In':
            return has && r.values.includes(v!);
          // Like Kubernetes: an absent label satisfies != and notin.
          case 'NotEquals':
          case 'NotIn':
            return !has || !r.values.includes(v!);
        }
      });
    },
  };
}
