import Ajv2020, { ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { loadContractDocument, OpenApiDocument } from '../../src/http/contract';

/**
 * Checks a response against contracts/: the operation is found by method and concrete path, the
 * response by status, and the body validated against its schema. A response the contract does
 * not describe fails the test.
 */
const document: OpenApiDocument = loadContractDocument();
const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
ajv.addKeyword({ keyword: 'x-money' });
ajv.addSchema(document as unknown as object, 'contract');
const compiled = new Map<string, ValidateFunction>();

const templates = Object.keys(document.paths).map((template) => ({
  template,
  regex: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
  literalLength: template.replace(/\{[^}]+\}/g, '').length,
}));

export function findTemplate(path: string): string | undefined {
  const bare = path.split('?')[0] as string;
  const matches = templates.filter((t) => t.regex.test(bare)).sort((a, b) => b.literalLength - a.literalLength);
  return matches[0]?.template;
}

export function contractErrors(method: string, path: string, status: number, body: unknown, contentType = 'application/json'): string[] {
  const template = findTemplate(path);
  if (!template) {
    // Unknown routes have no operation; their answer must still be the error envelope.
    if (status === 404) return validateAgainst('#/components/schemas/ErrorEnvelope', body);
    return [`no path in contracts/ matches ${path}`];
  }
  const operation = document.paths[template]?.[method.toLowerCase()];
  if (!operation) {
    if (status === 404) return validateAgainst('#/components/schemas/ErrorEnvelope', body);
    return [`contracts/ has no ${method} ${template}`];
  }
  const responses = (operation.responses ?? {}) as Record<string, unknown>;
  const response = (responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses.default) as Record<string, unknown> | undefined;
  if (!response) {
    // Catalogue errors share one shape; any documented operation may answer them.
    if (status >= 400) return validateAgainst('#/components/schemas/ErrorEnvelope', body);
    return [`contracts/ has no ${status} response for ${method} ${template}`];
  }
  if (typeof response.$ref === 'string') {
    const name = response.$ref.replace('#/components/responses/', '');
    return validateAgainst(`#/components/responses/${name}/content/${escapePointer(contentType)}/schema`, body);
  }
  const content = response.content as Record<string, unknown> | undefined;
  if (!content) return body === undefined || body === '' ? [] : ['the contract declares no body but one was sent'];
  if (!content[contentType]) return [`the contract has no ${contentType} body for ${status}`];
  const escapedTemplate = escapePointer(template);
  return validateAgainst(`#/paths/${escapedTemplate}/${method.toLowerCase()}/responses/${status}/content/${escapePointer(contentType)}/schema`, body);
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

function validateAgainst(pointer: string, body: unknown): string[] {
  let validate = compiled.get(pointer);
  if (!validate) {
    validate = ajv.compile({ $ref: `contract${pointer}` });
    compiled.set(pointer, validate);
  }
  if (validate(body)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} (${e.schemaPath})`);
}

/** Validates a schema from components/schemas (event payloads, files). */
export function schemaErrors(name: string, value: unknown): string[] {
  return validateAgainst(`#/components/schemas/${name}`, value);
}
