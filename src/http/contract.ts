import fs from 'node:fs';
import path from 'node:path';
import type Ajv2020 from 'ajv/dist/2020';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020';
import { FieldProblem, TongfuError, validationFailed } from '../domain/errors';
import { projectRoot } from '../paths';

/**
 * The wire contract, loaded from contracts/openapi/*.yaml: the one source of truth for request
 * and response shapes. Fragments (one per party) are merged into one OpenAPI 3.1 document;
 * `npm run contracts:bundle` writes the same merge to contracts/openapi.yaml for linting and
 * readers, and the build (scripts/build.js) to dist/contracts/openapi.json, which the compiled
 * service reads instead of parsing YAML. ajv and the YAML parser are loaded on first use: an idle
 * process needs neither (contracts/decisions/0079-idle-memory.md).
 */
export const CONTRACTS_DIR = path.join(projectRoot(), 'contracts');
/** The merged document the build writes beside the compiled code (dist/contracts/). */
export const COMPILED_CONTRACT_FILE = path.resolve(__dirname, '..', '..', 'contracts', 'openapi.json');
const SCHEMA_ID = 'tongfu:openapi';
const MONEY_REF = '#/components/schemas/Money';
/** The pattern of `SingleLineText` (contracts/decisions/0050-text-and-json-input.md), as the contract spells it. */
const SINGLE_LINE_PATTERN = '^[^|\\r\\n]*$';

export type OpenApiDocument = {
  openapi: string;
  paths: Record<string, Record<string, OperationObject>>;
  components: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
};

export interface ParameterObject {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema?: Record<string, unknown>;
}

export interface OperationObject {
  operationId?: string;
  parameters?: Array<ParameterObject | { $ref: string }>;
  requestBody?: { content?: Record<string, { schema?: Record<string, unknown> }> };
  responses?: Record<string, unknown>;
  [key: string]: unknown;
}

const MERGED_SECTIONS = ['paths', 'components', 'webhooks'] as const;

/** The compiled service's merged document when it was built, else the YAML fragments merged now. */
export function defaultContractDocument(): OpenApiDocument {
  if (__filename.endsWith('.js') && fs.existsSync(COMPILED_CONTRACT_FILE)) {
    return JSON.parse(fs.readFileSync(COMPILED_CONTRACT_FILE, 'utf8')) as OpenApiDocument;
  }
  return loadContractDocument();
}

export function loadContractDocument(directory = path.join(CONTRACTS_DIR, 'openapi')): OpenApiDocument {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const YAML = require('yaml') as typeof import('yaml');
  const files = fs.readdirSync(directory).filter((name) => name.endsWith('.yaml')).sort();
  const merged: Record<string, unknown> = {};
  for (const file of files) {
    const fragment = YAML.parse(fs.readFileSync(path.join(directory, file), 'utf8')) as Record<string, unknown>;
    for (const [key, value] of Object.entries(fragment)) {
      if ((MERGED_SECTIONS as readonly string[]).includes(key)) {
        merged[key] = deepMerge((merged[key] ?? {}) as Record<string, unknown>, value as Record<string, unknown>, `${file}: ${key}`);
      } else if (key in merged) {
        throw new Error(`contract fragment ${file} redefines top-level "${key}"`);
      } else {
        merged[key] = value;
      }
    }
  }
  return merged as OpenApiDocument;
}

function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>, where: string): Record<string, unknown> {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (existing === undefined) {
      target[key] = value;
    } else if (isPlainObject(existing) && isPlainObject(value) && !('type' in value) && !('$ref' in value) && !('operationId' in value)) {
      deepMerge(existing, value, `${where}.${key}`);
    } else {
      throw new Error(`contract fragments define ${where}.${key} twice`);
    }
  }
  return target;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface OperationValidators {
  operationId: string;
  body: ValidateFunction | undefined;
  query: ValidateFunction | undefined;
  queryNames: Set<string>;
  pathParams: Map<string, ValidateFunction>;
}

/**
 * Validators for every operation, by operationId, each compiled by ajv on its first use and kept.
 * Compiling the whole contract up front costs every process ~30 MB of resident memory (ajv's
 * code generation grows V8's young generation to its maximum, and it stays grown) for operations
 * most processes never serve, so start-up only indexes the operations and checks that each route
 * names one (contracts/decisions/0079-idle-memory.md).
 */
export class Contract {
  readonly document: OpenApiDocument;
  private ajvInstance: Ajv2020 | undefined;
  private queryAjvInstance: Ajv2020 | undefined;
  private readonly declared = new Map<string, { route: string; method: string; operation: OperationObject }>();
  private readonly operations = new Map<string, OperationValidators>();

  constructor(document: OpenApiDocument = defaultContractDocument()) {
    this.document = document;
    for (const [route, item] of Object.entries(document.paths ?? {})) {
      for (const [method, operation] of Object.entries(item)) {
        if (!operation || typeof operation !== 'object' || !operation.operationId) continue;
        this.declared.set(operation.operationId, { route, method, operation });
      }
    }
  }

  /** Throws unless the contract declares `operationId`; compiles nothing. */
  requireOperation(operationId: string): void {
    if (!this.declared.has(operationId)) throw new Error(`operation ${operationId} is not in contracts/`);
  }

  operation(operationId: string): OperationValidators {
    const compiled = this.operations.get(operationId);
    if (compiled) return compiled;
    const declared = this.declared.get(operationId);
    if (!declared) throw new Error(`operation ${operationId} is not in contracts/`);
    const validators = this.compileOperation(declared.route, declared.method, declared.operation);
    this.operations.set(operationId, validators);
    return validators;
  }

  /** A validator for any component schema, e.g. for event payloads. */
  schema(name: string): ValidateFunction {
    return this.ajv.getSchema(`${SCHEMA_ID}#/components/schemas/${name}`) ?? this.ajv.compile({ $ref: `${SCHEMA_ID}#/components/schemas/${name}` });
  }

  private get ajv(): Ajv2020 {
    if (!this.ajvInstance) {
      this.ajvInstance = makeAjv(false);
      this.ajvInstance.addSchema(this.document as unknown as object, SCHEMA_ID);
    }
    return this.ajvInstance;
  }

  private get queryAjv(): Ajv2020 {
    if (!this.queryAjvInstance) {
      this.queryAjvInstance = makeAjv(true);
      this.queryAjvInstance.addSchema(this.document as unknown as object, SCHEMA_ID);
    }
    return this.queryAjvInstance;
  }

  private compileOperation(route: string, method: string, operation: OperationObject): OperationValidators {
    const escapedRoute = route.replace(/~/g, '~0').replace(/\//g, '~1');
    const base = `${SCHEMA_ID}#/paths/${escapedRoute}/${method}`;
    const jsonBody = operation.requestBody?.content?.['application/json'];
    const body = jsonBody?.schema ? this.ajv.compile({ $ref: `${base}/requestBody/content/application~1json/schema` }) : undefined;
    const parameters = (operation.parameters ?? []).map((parameter) => this.resolveParameter(parameter));
    const queryParameters = parameters.filter((parameter) => parameter.in === 'query');
    const queryNames = new Set(queryParameters.map((parameter) => parameter.name));
    const query = this.queryAjv.compile({
      type: 'object',
      properties: Object.fromEntries(queryParameters.map((parameter) => [parameter.name, parameter.schema ?? {}])),
      required: queryParameters.filter((parameter) => parameter.required).map((parameter) => parameter.name),
      additionalProperties: false,
    });
    const pathParams = new Map<string, ValidateFunction>();
    for (const parameter of parameters.filter((p) => p.in === 'path')) {
      pathParams.set(parameter.name, this.ajv.compile(parameter.schema ?? {}));
    }
    return { operationId: operation.operationId as string, body, query, queryNames, pathParams };
  }

  private resolveParameter(parameter: ParameterObject | { $ref: string }): ParameterObject {
    if ('$ref' in parameter) {
      const name = parameter.$ref.replace('#/components/parameters/', '');
      const resolved = this.document.components.parameters?.[name] as ParameterObject | undefined;
      if (!resolved) throw new Error(`unknown parameter ${parameter.$ref}`);
      return resolveSchemaRef(resolved, this.document);
    }
    return resolveSchemaRef(parameter, this.document);
  }
}

/** Path and query parameter schemas are compiled standalone, so inline their component refs. */
function resolveSchemaRef(parameter: ParameterObject, document: OpenApiDocument): ParameterObject {
  const schema = parameter.schema;
  if (schema && typeof schema.$ref === 'string') {
    const name = schema.$ref.replace('#/components/schemas/', '');
    return { ...parameter, schema: document.components.schemas?.[name] as Record<string, unknown> };
  }
  return parameter;
}

/** An ajv instance configured for the contract (loads ajv on first call). */
export function makeAjv(coerce: boolean): Ajv2020 {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const Ajv = (require('ajv/dist/2020') as typeof import('ajv/dist/2020')).default;
  const addFormats = (require('ajv-formats') as typeof import('ajv-formats')).default;
  /* eslint-enable @typescript-eslint/no-require-imports */
  const ajv = new Ajv({ allErrors: true, strict: false, coerceTypes: coerce ? 'array' : false, useDefaults: false, validateFormats: true });
  addFormats(ajv);
  // OpenAPI annotation keywords that are not JSON Schema.
  ajv.addKeyword({ keyword: 'x-money' });
  return ajv;
}

/**
 * Turns ajv's errors into the catalogue: an amount field that is not a two-decimal string is
 * AMOUNT_INVALID (which the precedence of docs/interface.md §3 puts before VALIDATION_FAILED); every
 * other problem is listed in one VALIDATION_FAILED.
 */
export function errorsToTongfuError(errors: ErrorObject[], prefix: string): TongfuError {
  const amountErrors = errors.filter((error) => error.schemaPath.includes(MONEY_REF) || error.schemaPath.includes('Money/'));
  if (amountErrors.length > 0) {
    const paths = [...new Set(amountErrors.map((error) => `${prefix}${error.instancePath}`))];
    return new TongfuError('AMOUNT_INVALID', `not an amount (a string with exactly two decimals, e.g. "100.00"): ${paths.join(', ')}`, { fields: paths.map((p) => ({ path: p, problem: 'must be a decimal string with exactly two decimals' })) });
  }
  return validationFailed(describeErrors(errors, prefix));
}

export function describeErrors(errors: ErrorObject[], prefix: string): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    // `if/then`, `oneOf` and `anyOf` wrap the real problems, which ajv lists as well.
    if (['if', 'oneOf', 'anyOf', 'not'].includes(error.keyword) && errors.length > 1) continue;
    let pathText = `${prefix}${error.instancePath}`;
    let problem = error.message ?? 'is invalid';
    if (error.keyword === 'additionalProperties') {
      pathText = `${pathText}/${String((error.params as { additionalProperty: string }).additionalProperty)}`;
      problem = 'unknown field';
    } else if (error.keyword === 'required') {
      pathText = `${pathText}/${String((error.params as { missingProperty: string }).missingProperty)}`;
      problem = 'is required';
    } else if (error.keyword === 'pattern' && (error.params as { pattern: string }).pattern === SINGLE_LINE_PATTERN) {
      problem = 'must not contain "|", CR or LF: it can reach a |-separated file';
    } else if (error.keyword === 'enum') {
      problem = `must be one of ${((error.params as { allowedValues: unknown[] }).allowedValues ?? []).map(String).join(', ')}`;
    }
    const key = `${pathText}|${problem}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push({ path: pathText, problem });
  }
  return problems;
}
