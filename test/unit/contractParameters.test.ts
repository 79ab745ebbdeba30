import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

// Every operation whose path or query parameters carry a constraint (a pattern, an enum, a format,
// bounds) can answer 400 VALIDATION_FAILED at `/path/…` or `/query/…` (docs/interface.md §3): the
// contract must say so, as it does for the body's problems.

type Node = Record<string, unknown>;
const contract = YAML.parse(fs.readFileSync(path.join(__dirname, '../../contracts/openapi.yaml'), 'utf8')) as Node;

function resolve(node: unknown): Node {
  let current = node as Node;
  while (current !== undefined && typeof current.$ref === 'string') {
    current = (current.$ref as string)
      .slice(2)
      .split('/')
      .reduce<unknown>((at, key) => (at as Node)[key.replace(/~1/g, '/').replace(/~0/g, '~')], contract) as Node;
  }
  return current;
}

function constrained(schema: Node): boolean {
  return ['pattern', 'enum', 'format', 'minimum', 'maximum', 'minLength', 'maxLength'].some((key) => schema[key] !== undefined) || schema.type === 'integer';
}

describe('contracts/openapi.yaml', () => {
  it('documents 400 for every operation with a constrained path or query parameter', () => {
    const missing: string[] = [];
    for (const [route, item] of Object.entries(contract.paths as Record<string, Node>)) {
      for (const [method, operation] of Object.entries(item)) {
        if (typeof operation !== 'object' || operation === null || !('responses' in operation)) continue;
        const op = operation as Node;
        const parameters = [...((item.parameters as unknown[]) ?? []), ...((op.parameters as unknown[]) ?? [])].map(resolve);
        const checked = parameters.filter((p) => (p.in === 'path' || p.in === 'query') && p.schema !== undefined && constrained(resolve(p.schema)));
        if (checked.length > 0 && (op.responses as Node)['400'] === undefined) missing.push(`${method.toUpperCase()} ${route} (${checked.map((p) => `${String(p.in)} ${String(p.name)}`).join(', ')})`);
      }
    }
    expect(missing).toEqual([]);
  });
});
