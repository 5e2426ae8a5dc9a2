import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/generated.ts';
import { VAP_API } from '../../scripts/helm.ts';
import { MATRIX, parseManifests, render, renderCase, type K8sObject } from './chart.ts';

/**
 * Every object the chart renders, in every case of the values matrix, every object in deploy/
 * and every example in docs/examples/, checked offline against the Kubernetes API in two ways:
 *
 * 1. Kubernetes 1.30, the chart's floor, with the API types of kubernetes-types@1.30.0: each
 *    object becomes a typed TypeScript literal and the compiler refuses unknown fields (excess
 *    property checks), wrong types and wrong apiVersion/kind pairs. A field added after 1.30
 *    fails here, so the chart never depends on a newer API than it claims.
 * 2. The OpenAPI schemas (Kubernetes 1.36 and the Prometheus Operator CRDs) compiled into
 *    validators by kubernetes-models and @kubernetes-models/prometheus-operator: required
 *    fields, enums, formats and integer ranges.
 *
 * The packages are devDependencies; without them this suite fails and says which to add.
 */

const PACKAGES = 'kubernetes-models@5.1.0, @kubernetes-models/prometheus-operator@6.0.0 and kubernetes-types@1.30.0';

interface Model {
  new (data: unknown): { validate(): void };
}

async function load(specifier: string): Promise<Record<string, unknown>> {
  try {
    return (await import(/* @vite-ignore */ specifier)) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`cannot load ${specifier}: add ${PACKAGES} to devDependencies (${(error as Error).message})`);
  }
}

/** Where each API group's models live. */
function modelModule(apiVersion: string): string {
  if (apiVersion.startsWith('monitoring.coreos.com/')) return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  return `kubernetes-models/${apiVersion}`;
}

/** The kubernetes-types 1.30 module and type of an object, or the CRD interface. */
function typeOf(o: K8sObject): { module: string; type: string } {
  if (o.apiVersion.startsWith('monitoring.coreos.com/')) return { module: `@kubernetes-models/prometheus-operator/${o.apiVersion}`, type: `I${o.kind}` };
  const [g, v] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['core', o.apiVersion];
  return { module: `kubernetes-types/${g!.split('.')[0]}/${v}`, type: o.kind };
}

async function validateWithModels(objects: readonly K8sObject[]): Promise<string[]> {
  const problems: string[] = [];
  for (const o of objects) {
    const mod = await load(modelModule(o.apiVersion));
    const ModelClass = mod[o.kind] as Model | undefined;
    if (!ModelClass) {
      problems.push(`${o.apiVersion} ${o.kind}: no such kind`);
      continue;
    }
    try {
      new ModelClass(structuredClone(o)).validate();
    } catch (error) {
      problems.push(`${o.kind}/${o.metadata.name}: ${(error as Error).message}`);
    }
  }
  return problems;
}

/**
 * kubernetes-types@1.30.0 drops fields that the Go API inlines from another struct: Rule's
 * resources and scope are missing from (Named)RuleWithOperations, though Kubernetes 1.30 has them
 * (the OpenAPI document does). Declared back here, on one line, and nothing else.
 */
const KNOWN_GAPS = [
  "declare module 'kubernetes-types/admissionregistration/v1' { interface NamedRuleWithOperations { resources?: Array<string>; scope?: string } }",
];

/** Type-checks the objects against the 1.30 API types; returns the compiler's complaints. */
function typeCheck(objects: readonly K8sObject[]): string[] {
  const file = join(ROOT, 'test', 'chart', '__kubernetes_1_30_check__.ts');
  const imports = new Map<string, string>();
  const declarations = objects.map((o, i) => {
    const { module, type } = typeOf(o);
    if (!imports.has(module)) imports.set(module, `m${imports.size}`);
    return `export const o${i}: ${imports.get(module)}.${type} = ${JSON.stringify(o, null, 1)};`;
  });
  const header = [...[...imports].map(([module, alias]) => `import type * as ${alias} from '${module}';`), ...KNOWN_GAPS];
  // The first line of each object's declaration, to name the object in a complaint.
  const owners: { line: number; name: string }[] = [];
  let line = header.length;
  for (const [i, declaration] of declarations.entries()) {
    owners.push({ line, name: `${objects[i]!.kind}/${objects[i]!.metadata.name}` });
    line += declaration.split('\n').length;
  }
  const source = `${[...header, ...declarations].join('\n')}\n`;
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    // kubernetes-types has no package exports; bundler resolution finds its .d.ts files.
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, languageVersion, ...rest) =>
    name === file ? ts.createSourceFile(name, source, languageVersion) : getSourceFile(name, languageVersion, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  const sourceFile = program.getSourceFile(file)!;
  const diagnostics = ts.getPreEmitDiagnostics(program, sourceFile);
  const missing = diagnostics.find((d) => d.code === 2307);
  if (missing) throw new Error(`${ts.flattenDiagnosticMessageText(missing.messageText, ' ')}: add ${PACKAGES} to devDependencies`);
  return diagnostics.map((d) => {
    const at = d.start === undefined ? 0 : sourceFile.getLineAndCharacterOfPosition(d.start).line;
    const owner = owners.findLast((o) => o.line <= at);
    return `${owner?.name ?? 'imports'}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}

const everything = [
  ...MATRIX.map((c) => ({ name: c.name, objects: renderCase(c) })),
  { name: 'deploy/imds-labeler.yaml', objects: parseManifests(readFileSync(join(ROOT, 'deploy', 'imds-labeler.yaml'), 'utf8')) },
  { name: 'deploy/cleanup/imds-labeler-cleanup.yaml', objects: parseManifests(readFileSync(join(ROOT, 'deploy', 'cleanup', 'imds-labeler-cleanup.yaml'), 'utf8')) },
  ...readdirSync(join(ROOT, 'docs', 'examples'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => ({ name: `docs/examples/${f}`, objects: parseManifests(readFileSync(join(ROOT, 'docs', 'examples', f), 'utf8')) })),
];

describe('rendered objects against the Kubernetes API', () => {
  it('covers every kind the chart can render', () => {
    const kinds = new Set(everything.flatMap((e) => e.objects.map((o) => `${o.apiVersion} ${o.kind}`)));
    expect([...kinds].sort()).toEqual([
      'admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy',
      'admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding',
      'apps/v1 DaemonSet',
      'apps/v1 Deployment',
      'batch/v1 Job',
      'monitoring.coreos.com/v1 PodMonitor',
      'monitoring.coreos.com/v1 PrometheusRule',
      'monitoring.coreos.com/v1 ServiceMonitor',
      'networking.k8s.io/v1 NetworkPolicy',
      'rbac.authorization.k8s.io/v1 ClusterRole',
      'rbac.authorization.k8s.io/v1 ClusterRoleBinding',
      'v1 ConfigMap',
      'v1 Namespace',
      'v1 Service',
      'v1 ServiceAccount',
    ]);
  });

  it.each(everything.map((e) => [e.name, e.objects] as const))('OpenAPI schemas: %s', async (_name, objects) => {
    expect(await validateWithModels(objects)).toEqual([]);
  });

  it('Kubernetes 1.30 API types: every object of every case, of deploy/ and of the examples', () => {
    expect(typeCheck(everything.flatMap((e) => e.objects))).toEqual([]);
  });
});

describe('the checks catch mistakes', () => {
  const daemonSet = () => render({}, { apiVersions: [VAP_API] }).find((o) => o.kind === 'DaemonSet')!;

  it('the 1.30 type check refuses a misspelt field and a field of the wrong type', () => {
    const typo = daemonSet();
    (typo.spec as { template: { spec: Record<string, unknown> } }).template.spec.hostNetwrk = true;
    const wrongType = daemonSet();
    (wrongType.spec as { template: { spec: Record<string, unknown> } }).template.spec.terminationGracePeriodSeconds = 'soon';
    const problems = typeCheck([typo, wrongType]);
    expect(problems.join('\n')).toContain('hostNetwrk');
    expect(problems.join('\n')).toContain("'string' is not assignable to type 'number'");
  });

  it('the 1.30 type check refuses a field that came after 1.30', () => {
    const newer = daemonSet();
    // Pod-level resources (spec.resources) came in Kubernetes 1.32.
    (newer.spec as { template: { spec: Record<string, unknown> } }).template.spec.resources = { limits: { memory: '1Gi' } };
    expect(typeCheck([newer]).join('\n')).toContain('resources');
  });

  it('the schema validators refuse a missing required field and a wrong type', async () => {
    const noContainers = daemonSet();
    delete (noContainers.spec as { template: { spec: Record<string, unknown> } }).template.spec.containers;
    const badPort = daemonSet();
    ((badPort.spec as { template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } } }).template.spec.containers[0]!.ports[0]!).containerPort = 'nine';
    const problems = await validateWithModels([noContainers, badPort]);
    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).toMatch(/containers/);
    expect(problems.join('\n')).toMatch(/containerPort/);
  });
});
