import { formatInstant } from '../../domain/businessDate';
import { type Account, formatRate, type Item, itemContent, type Region, type SharingRule, type UnitItems } from '../../services/catalogue';

/**
 * Wire shapes of the catalogue (docs/interface.md §6.1): codes under the names the paths use, money as
 * two-decimal strings, rates and ratios as their shortest exact decimal ("0.0005", "1").
 * Optional references are left out when absent, as in the requests.
 */
export function serializeRegion(region: Region): Record<string, unknown> {
  return {
    regionCode: region.regionCode,
    name: region.name,
    ...(region.parentCode !== null ? { parentCode: region.parentCode } : {}),
    createdAt: formatInstant(region.createdAt),
    updatedAt: formatInstant(region.updatedAt),
  };
}

export function serializeAccount(account: Account): Record<string, unknown> {
  return {
    accountNo: account.accountNo,
    name: account.name,
    bankCode: account.bankCode,
    kind: account.kind,
    createdAt: formatInstant(account.createdAt),
    updatedAt: formatInstant(account.updatedAt),
  };
}

export function serializeSharingRule(rule: SharingRule): Record<string, unknown> {
  return {
    ruleCode: rule.ruleCode,
    name: rule.name,
    shares: rule.shares.map((share) => ({ budgetLevel: share.budgetLevel, ratio: formatRate(share.ratio) })),
    createdAt: formatInstant(rule.createdAt),
    updatedAt: formatInstant(rule.updatedAt),
  };
}

export function serializeItem(item: Item): Record<string, unknown> {
  return {
    itemCode: item.itemCode,
    ...itemContent(item),
    version: item.version,
    createdAt: formatInstant(item.createdAt),
    updatedAt: formatInstant(item.updatedAt),
  };
}

export function serializeUnitItems(unitItems: UnitItems): Record<string, unknown> {
  return { unitCode: unitItems.unitCode, itemCodes: unitItems.itemCodes };
}
