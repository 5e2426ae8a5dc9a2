/**
 * Which fields an api-version has. IMDS answers an old api-version with the fields that version
 * had: a client that asks for 2019-03-11 gets no tagsList (2019-06-04). Fields not listed here
 * are served at every version. Keys are matched case-insensitively, as IMDS spells some
 * differently from one sample to the next.
 */

/** Versions are YYYY-MM-DD strings, so they compare as strings. */
export const available = (since: string, apiVersion: string): boolean => apiVersion >= since;

interface Since {
  since?: string;
  fields?: Record<string, Since>;
}

/** The article dates the first fields 2017-04-02; the 2017-03-01 preview served them already. */
const FIRST = '2017-03-01';

const at = (since: string, fields?: Record<string, Since>): Since => ({ since, fields });

/** From the IMDS article's field tables and the newer documentation. */
const COMPUTE: Record<string, Since> = {
  additionalCapabilities: at('2021-11-01'),
  azEnvironment: at('2018-10-01'),
  customData: at('2019-02-01'),
  evictionPolicy: at('2020-12-01'),
  extendedLocation: at('2021-03-01'),
  host: at('2021-11-15'),
  hostGroup: at('2021-11-15'),
  isHostCompatibilityLayerVm: at('2020-06-01'),
  licenseType: at('2020-09-01'),
  location: at(FIRST),
  name: at(FIRST),
  offer: at(FIRST),
  osProfile: at('2020-07-15', { disablePasswordAuthentication: at('2020-10-01') }),
  osType: at(FIRST),
  physicalZone: at('2023-11-15'),
  placementGroupId: at('2017-08-01'),
  plan: at('2018-04-02'),
  platformFaultDomain: at(FIRST),
  platformSubFaultDomain: at('2021-10-01'),
  platformUpdateDomain: at(FIRST),
  priority: at('2020-12-01'),
  provider: at('2018-10-01'),
  publicKeys: at('2018-04-02'),
  publisher: at(FIRST),
  resourceGroupName: at('2017-08-01'),
  resourceId: at('2019-03-11'),
  securityProfile: at('2020-06-01', { encryptionAtHost: at('2021-11-01'), securityType: at('2021-12-13') }),
  sku: at(FIRST),
  storageProfile: at('2019-06-01'),
  subscriptionId: at('2017-08-01'),
  tags: at('2017-08-01'),
  tagsList: at('2019-06-04'),
  userData: at('2021-01-01'),
  version: at(FIRST),
  virtualMachineScaleSet: at('2021-03-01'),
  vmId: at(FIRST),
  vmScaleSetName: at('2017-12-01'),
  vmSize: at(FIRST),
  zone: at('2017-12-01'),
};

const DOCUMENT: Record<string, Since> = { compute: { fields: COMPUTE }, network: at(FIRST) };

/** The document as IMDS serves it at `apiVersion`: a copy without the fields that came later. */
export function documentForVersion(document: Record<string, unknown>, apiVersion: string): Record<string, unknown> {
  return prune(document, DOCUMENT, apiVersion) as Record<string, unknown>;
}

function prune(value: unknown, table: Record<string, Since>, apiVersion: string): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const lookup = new Map(Object.entries(table).map(([k, v]) => [k.toLowerCase(), v]));
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    const rule = lookup.get(key.toLowerCase());
    if (rule?.since !== undefined && !available(rule.since, apiVersion)) continue;
    out[key] = rule?.fields ? prune(child, rule.fields, apiVersion) : child;
  }
  return out;
}
