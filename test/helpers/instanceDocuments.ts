import { configSchema, type ConfigInput } from '../../src/config/schema.ts';
import { canonicalizeKeys, DocumentError, readInstanceDocument, type InstanceDocument } from '../../src/imds/document.ts';

/** IMDS documents as the wire sends them (every primitive a string), for mapping tests. */

/** A zonal VM in a scale set, with tags, as from api-version 2025-04-07. */
export const ZONAL_WIRE = {
  compute: {
    azEnvironment: 'AzurePublicCloud',
    location: 'westeurope',
    name: 'aks-nodepool1-12345678-vmss_0',
    vmId: '02aab8a4-74ef-476e-8182-f6d2ba4166a6',
    vmSize: 'Standard_D4s_v5',
    zone: '2',
    physicalZone: 'westeurope-AZ02',
    platformFaultDomain: '0',
    platformUpdateDomain: '3',
    platformSubFaultDomain: '1',
    placementGroupId: 'f67c14ab-e92c-408c-ae2d-da15866ec79a',
    vmScaleSetName: 'aks-nodepool1-12345678-vmss',
    priority: 'Spot',
    evictionPolicy: 'Delete',
    osType: 'Linux',
    tags: 'team:payments;env:prod',
    tagsList: [
      { name: 'team', value: 'payments' },
      { name: 'env', value: 'prod' },
    ],
    securityProfile: { secureBootEnabled: 'true', virtualTpmEnabled: 'false', encryptionAtHost: 'true', securityType: 'TrustedLaunch' },
    host: { id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/hostGroups/hg-1/hosts/host-7' },
    hostGroup: { id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/hostGroups/hg-1' },
  },
  network: { interface: [] },
};

/** The spec's sample 3: a regional VM (zone ""), legacy tags only, AZUREPUBLICCLOUD. */
export const REGIONAL_WIRE = {
  compute: {
    azEnvironment: 'AZUREPUBLICCLOUD',
    location: 'westus',
    name: 'examplevmname',
    osType: 'linux',
    platformFaultDomain: '36',
    platformUpdateDomain: '42',
    securityProfile: { secureBootEnabled: 'true', virtualTpmEnabled: 'false' },
    tags: 'baz:bash;foo:bar',
    vmScaleSetName: 'crpteste9vflji9',
    vmSize: 'Standard_A3',
    zone: '',
  },
};

type Wire = { compute: Record<string, unknown>; network?: unknown };

/**
 * The wire document with compute fields replaced ("" or undefined to blank one). Through the
 * schema only, not the client's check for the fields every VM has: render() is a total function
 * of any schema-valid document, even one the client refuses (no vmSize, no location).
 */
export function doc(base: Wire, compute: Record<string, unknown> = {}): InstanceDocument {
  const merged: Record<string, unknown> = { ...base.compute };
  for (const [k, v] of Object.entries(compute)) {
    if (v === undefined) delete merged[k];
    else merged[k] = v;
  }
  return schemaDocument({ ...base, compute: merged });
}

/** A decoded answer through the document schema alone (see doc()). */
export function schemaDocument(json: unknown): InstanceDocument {
  const { document, issues } = readInstanceDocument(canonicalizeKeys(json));
  if (issues.length) throw new DocumentError(issues);
  return document;
}

export type LabelsInput = NonNullable<ConfigInput['labels']>;

/** A labels config, through the real schema (so defaults and the tagPrefix default apply). */
export const labelsConfig = (labels: LabelsInput = {}) => configSchema.parse({ labels }).labels;

/** Every field IMDS can send that becomes a key (with every extra and the well-known keys on), and tags. */
export const EVERY_FIELD_DOCUMENT = schemaDocument({
  compute: {
    azEnvironment: 'AzurePublicCloud', location: 'westeurope', vmSize: 'Standard_D4s_v5', zone: '2', physicalZone: 'westeurope-AZ02',
    platformFaultDomain: '0', platformUpdateDomain: '3', platformSubFaultDomain: '1', priority: 'Spot', evictionPolicy: 'Delete', osType: 'Linux',
    securityProfile: { secureBootEnabled: 'true', virtualTpmEnabled: 'true', encryptionAtHost: 'false', securityType: 'TrustedLaunch' },
    host: { id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/hostGroups/hg/hosts/h1' },
    hostGroup: { id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/hostGroups/hg' },
    tagsList: [{ name: 'team', value: 'payments' }, { name: 'a'.repeat(63), value: 'v' }],
  },
});
