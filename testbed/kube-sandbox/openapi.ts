/**
 * A paths-only OpenAPI v3 description (/openapi/v3 and /openapi/v3/<group-version>).
 *
 * kubectl create/apply/replace ask it whether PATCH supports `fieldValidation`; when it does, they
 * send `fieldValidation=Strict` and leave validation to the server, instead of downloading schemas
 * for client-side validation. The documents carry operations, parameters and the
 * `x-kubernetes-group-version-kind` extensions, but no component schemas. The PATCH request bodies
 * list the JSON and merge patch types only: kubectl then computes strategic merge patches from its
 * built-in types instead of looking for schemas this document does not have.
 */
import { createHash } from 'node:crypto';
import { RESOURCES, type ResourceDef } from './resources.ts';
import type { JsonObject } from './types.ts';

const param = (name: string, where: 'query' | 'path', description: string): JsonObject => ({
  name,
  in: where,
  description,
  ...(where === 'path' ? { required: true } : {}),
  schema: { type: where === 'query' && ['watch', 'allowWatchBookmarks', 'sendInitialEvents'].includes(name) ? 'boolean' : 'string', uniqueItems: true },
});

const WRITE_PARAMS = [
  param('dryRun', 'query', 'When present, indicates that modifications should not be persisted.'),
  param('fieldManager', 'query', 'fieldManager is a name associated with the actor or entity that is making these changes.'),
  param('fieldValidation', 'query', 'fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict.'),
];

const LIST_PARAMS = ['allowWatchBookmarks', 'continue', 'fieldSelector', 'labelSelector', 'limit', 'resourceVersion', 'resourceVersionMatch', 'sendInitialEvents', 'timeoutSeconds', 'watch'].map(
  (n) => param(n, 'query', n),
);

const objectBody = (types: string[]): JsonObject => ({ content: Object.fromEntries(types.map((t) => [t, { schema: { type: 'object' } }])), required: true });
const ok = (code: string): JsonObject => ({ [code]: { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } }, '401': { description: 'Unauthorized' } });

function operation(def: ResourceDef, action: string, verbId: string, extra: JsonObject = {}): JsonObject {
  const group = def.group === '' ? 'core' : 'events';
  const tag = `${group}_${def.version}`;
  const camelGroup = def.group === '' ? 'Core' : 'Events';
  return {
    tags: [tag],
    operationId: `${verbId}${camelGroup}V1${def.namespaced ? 'Namespaced' : ''}${def.kind}`,
    ...extra,
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': { group: def.group, kind: def.kind, version: def.version },
  };
}

function pathsFor(def: ResourceDef): Record<string, JsonObject> {
  const prefix = def.group === '' ? '/api/v1' : `/apis/${def.group}/${def.version}`;
  const collection = def.namespaced ? `${prefix}/namespaces/{namespace}/${def.resource}` : `${prefix}/${def.resource}`;
  const nsParam = def.namespaced ? [param('namespace', 'path', 'object name and auth scope, such as for teams and projects')] : [];
  const nameParam = param('name', 'path', `name of the ${def.kind}`);
  const pretty = param('pretty', 'query', "If 'true', then the output is pretty printed.");
  const out: Record<string, JsonObject> = {
    [collection]: {
      get: operation(def, 'list', 'list', { parameters: LIST_PARAMS, responses: ok('200') }),
      post: operation(def, 'post', 'create', { parameters: WRITE_PARAMS, requestBody: objectBody(['*/*']), responses: ok('201') }),
      delete: operation(def, 'deletecollection', 'deleteCollection', { parameters: [...LIST_PARAMS, ...WRITE_PARAMS.slice(0, 1)], responses: ok('200') }),
      parameters: [...nsParam, pretty],
    },
    [`${collection}/{name}`]: {
      get: operation(def, 'get', 'read', { responses: ok('200') }),
      put: operation(def, 'put', 'replace', { parameters: WRITE_PARAMS, requestBody: objectBody(['*/*']), responses: ok('200') }),
      patch: operation(def, 'patch', 'patch', {
        parameters: WRITE_PARAMS,
        requestBody: objectBody(['application/json-patch+json', 'application/merge-patch+json']),
        responses: ok('200'),
      }),
      delete: operation(def, 'delete', 'delete', { parameters: WRITE_PARAMS.slice(0, 1), responses: ok('200') }),
      parameters: [nameParam, ...nsParam, pretty],
    },
  };
  for (const sub of def.subresources) {
    out[`${collection}/{name}/${sub}`] = {
      get: operation(def, 'get', `read${sub[0]!.toUpperCase()}${sub.slice(1)}`, { responses: ok('200') }),
      put: operation(def, 'put', `replace${sub[0]!.toUpperCase()}${sub.slice(1)}`, { parameters: WRITE_PARAMS, requestBody: objectBody(['*/*']), responses: ok('200') }),
      patch: operation(def, 'patch', `patch${sub[0]!.toUpperCase()}${sub.slice(1)}`, {
        parameters: WRITE_PARAMS,
        requestBody: objectBody(['application/json-patch+json', 'application/merge-patch+json']),
        responses: ok('200'),
      }),
      parameters: [nameParam, pretty],
    };
  }
  return out;
}

const GROUP_VERSIONS: Record<string, (d: ResourceDef) => boolean> = {
  'api/v1': (d) => d.group === '',
  'apis/events.k8s.io/v1': (d) => d.group === 'events.k8s.io',
};

export function openApiV3Document(gv: string, serverVersion: string): JsonObject | undefined {
  const pick = GROUP_VERSIONS[gv];
  if (!pick) return undefined;
  const paths: Record<string, JsonObject> = {};
  for (const def of RESOURCES.filter(pick)) Object.assign(paths, pathsFor(def));
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: serverVersion }, paths, components: { schemas: {} } };
}

/** The /openapi/v3 index, with content hashes in the URLs as kube-apiserver serves them. */
export function openApiV3Root(serverVersion: string): JsonObject {
  const paths: Record<string, JsonObject> = {};
  for (const gv of Object.keys(GROUP_VERSIONS)) {
    const hash = createHash('sha512').update(JSON.stringify(openApiV3Document(gv, serverVersion))).digest('hex').slice(0, 128).toUpperCase();
    paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=${hash}` };
  }
  return { paths };
}
