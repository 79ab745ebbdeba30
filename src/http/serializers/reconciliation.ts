/**
 * Reconciliation's wire shapes for the routes (contracts/openapi/35-reconciliation-shapes.yaml):
 * a `Run` and a `Discrepancy` (with its proposal read by a join on finance_proposals). The
 * builders live with the service, which also puts a `Run` in `reconciliation.completed`.
 */
export { discrepancyView as serializeDiscrepancy, runView as serializeRun } from '../../services/reconciliation/views';
