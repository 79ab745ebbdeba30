import { pageRequest } from '../../db/pagination';
import { assert } from '../../domain/errors';
import type { Services } from '../../services';
import type { InstructionCaller, ResultReport } from '../../services/instructions';
import type { Call, RouteDefinition } from '../call';

/**
 * Instructions as their parties see them (docs/settlement.md §1): the agency (what it executes),
 * the bank (what credits or debits its accounts) and finance (all); the executor's result report.
 */

function callerOf(call: Call, role: InstructionCaller['role']): InstructionCaller {
  assert(call.party !== undefined && call.party.role === role, `a ${role} route runs for an authenticated ${role}`);
  return { partyId: call.party.partyId, role, code: call.party.code };
}

function instructionNoOf(call: Call): string {
  const value = call.params.instructionNo;
  assert(value !== undefined, 'the route has an :instructionNo parameter');
  return value;
}

function filterOf(call: Call): { status?: string; type?: string } {
  return {
    ...(typeof call.query.status === 'string' ? { status: call.query.status } : {}),
    ...(typeof call.query.type === 'string' ? { type: call.query.type } : {}),
  };
}

export function instructionRoutes(services: Services): RouteDefinition[] {
  const { instructions } = services;
  const routes: RouteDefinition[] = [];
  for (const role of ['agency', 'bank'] as const) {
    const prefix = role === 'agency' ? 'Agency' : 'Bank';
    routes.push(
      {
        access: role,
        method: 'GET',
        path: `/v1/${role}/instructions`,
        operationId: `list${prefix}Instructions`,
        body: 'none',
        async handle(call) {
          return { status: 200, body: await instructions.list(callerOf(call, role), filterOf(call), pageRequest(call.query)) };
        },
      },
      {
        access: role,
        method: 'GET',
        path: `/v1/${role}/instructions/:instructionNo`,
        operationId: `get${prefix}Instruction`,
        body: 'none',
        async handle(call) {
          return { status: 200, body: await instructions.get(callerOf(call, role), instructionNoOf(call)) };
        },
      },
      {
        access: role,
        method: 'POST',
        path: `/v1/${role}/instructions/:instructionNo/result`,
        operationId: `report${prefix}InstructionResult`,
        body: 'json',
        async handle(call) {
          const result = await instructions.reportResult(callerOf(call, role), instructionNoOf(call), call.body as ResultReport);
          return { status: 200, body: result.instruction, ...(result.replayed ? { headers: { 'Idempotent-Replay': 'true' } } : {}) };
        },
      },
    );
  }
  routes.push({
    access: 'finance',
    method: 'GET',
    path: '/v1/finance/instructions',
    operationId: 'listFinanceInstructions',
    body: 'none',
    async handle(call) {
      return { status: 200, body: await instructions.list(callerOf(call, 'finance'), filterOf(call), pageRequest(call.query)) };
    },
  });
  return routes;
}
