import type { Services } from '../../services';
import type { RouteDefinition } from '../call';

/** Every route, from the file named after its party. */
export function buildRoutes(services: Services): RouteDefinition[] {
  void services;
  return [];
}
