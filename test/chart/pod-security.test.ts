import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/generated.ts';
import { MATRIX, at, parseManifests, renderCase, type K8sObject } from './chart.ts';

/**
 * The Pod Security Standards (https://kubernetes.io/docs/concepts/security/pod-security-standards/),
 * "restricted" profile, as of Kubernetes 1.30, checked on every pod template the chart renders.
 * The one documented exception is hostNetwork on the agent's DaemonSet (needed to reach IMDS where
 * pod access to link-local addresses is blocked), allowed only when the hostNetwork value is on.
 */

type Spec = Record<string, unknown>;

const BASELINE_CAPABILITIES = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);
const SAFE_SYSCTLS = new Set(['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes']);
const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);

interface PssOptions {
  /** hostNetwork is the one exception, allowed where the values ask for it. */
  allowHostNetwork: boolean;
}

/** Every violation of the restricted profile in a pod spec, as "field: problem". */
function restrictedViolations(pod: Spec, options: PssOptions): string[] {
  const v: string[] = [];
  const podSc = (pod.securityContext ?? {}) as Spec;
  const containers = [
    ...((pod.initContainers ?? []) as Spec[]).map((c) => ['initContainers', c] as const),
    ...((pod.containers ?? []) as Spec[]).map((c) => ['containers', c] as const),
    ...((pod.ephemeralContainers ?? []) as Spec[]).map((c) => ['ephemeralContainers', c] as const),
  ];

  // Baseline.
  if (pod.hostNetwork === true && !options.allowHostNetwork) v.push('hostNetwork: true');
  if (pod.hostPID === true) v.push('hostPID: true');
  if (pod.hostIPC === true) v.push('hostIPC: true');
  if (at(podSc, 'windowsOptions', 'hostProcess') === true) v.push('securityContext.windowsOptions.hostProcess');
  for (const vol of (pod.volumes ?? []) as Spec[]) {
    if ('hostPath' in vol) v.push(`volumes.${String(vol.name)}: hostPath`);
    const type = Object.keys(vol).find((k) => k !== 'name');
    if (type && !RESTRICTED_VOLUMES.has(type)) v.push(`volumes.${String(vol.name)}: ${type} is not allowed`);
  }
  for (const s of (podSc.sysctls ?? []) as Spec[]) if (!SAFE_SYSCTLS.has(String(s.name))) v.push(`sysctl ${String(s.name)}`);
  const checkSeLinux = (where: string, se: unknown) => {
    if (!se) return;
    const o = se as Spec;
    if (!SELINUX_TYPES.has(String(o.type ?? ''))) v.push(`${where}.seLinuxOptions.type`);
    if (o.user || o.role) v.push(`${where}.seLinuxOptions.user/role`);
  };
  checkSeLinux('securityContext', podSc.seLinuxOptions);
  const checkAppArmor = (where: string, profile: unknown) => {
    if (profile && at(profile, 'type') === 'Unconfined') v.push(`${where}.appArmorProfile: Unconfined`);
  };
  checkAppArmor('securityContext', podSc.appArmorProfile);

  // Restricted, pod level.
  const podNonRoot = podSc.runAsNonRoot === true;
  const podSeccomp = at(podSc, 'seccompProfile', 'type');
  if (podSc.runAsUser === 0) v.push('securityContext.runAsUser: 0');
  if (podSeccomp !== undefined && podSeccomp !== 'RuntimeDefault' && podSeccomp !== 'Localhost') v.push(`securityContext.seccompProfile: ${String(podSeccomp)}`);

  for (const [kind, c] of containers) {
    const where = `${kind}.${String(c.name)}`;
    const sc = (c.securityContext ?? {}) as Spec;
    // Baseline.
    if (sc.privileged === true) v.push(`${where}: privileged`);
    if (at(sc, 'windowsOptions', 'hostProcess') === true) v.push(`${where}: hostProcess`);
    for (const p of (c.ports ?? []) as Spec[]) if (p.hostPort !== undefined && p.hostPort !== 0) v.push(`${where}: hostPort ${String(p.hostPort)}`);
    if (sc.procMount !== undefined && sc.procMount !== 'Default') v.push(`${where}: procMount`);
    checkSeLinux(where, sc.seLinuxOptions);
    checkAppArmor(where, sc.appArmorProfile);
    // Restricted.
    if (sc.allowPrivilegeEscalation !== false) v.push(`${where}: allowPrivilegeEscalation must be false`);
    if (!(sc.runAsNonRoot === true || (podNonRoot && sc.runAsNonRoot !== false))) v.push(`${where}: runAsNonRoot must be true`);
    if (sc.runAsUser === 0) v.push(`${where}: runAsUser 0`);
    const seccomp = at(sc, 'seccompProfile', 'type') ?? podSeccomp;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') v.push(`${where}: seccompProfile must be RuntimeDefault or Localhost`);
    const drop = (at(sc, 'capabilities', 'drop') ?? []) as string[];
    const add = (at(sc, 'capabilities', 'add') ?? []) as string[];
    if (!drop.includes('ALL')) v.push(`${where}: capabilities must drop ALL`);
    for (const cap of add) {
      if (cap !== 'NET_BIND_SERVICE') v.push(`${where}: adds capability ${cap}`);
      if (!BASELINE_CAPABILITIES.has(cap)) v.push(`${where}: adds non-baseline capability ${cap}`);
    }
  }
  return v;
}

const pods = (objects: readonly K8sObject[]) =>
  objects.flatMap((o) => {
    const spec = at(o, 'spec', 'template', 'spec');
    return spec ? [{ name: `${o.kind}/${o.metadata.name}`, kind: o.kind, spec: spec as Spec }] : [];
  });

describe('the restricted-profile checker itself', () => {
  const good: Spec = {
    securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [{ name: 'c', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
  };
  const mutate = (f: (s: Spec) => void) => {
    const s = structuredClone(good);
    f(s);
    return restrictedViolations(s, { allowHostNetwork: false });
  };
  const c0 = (s: Spec) => ((s.containers as Spec[])[0]!.securityContext as Spec);

  it('passes a minimal restricted pod', () => expect(restrictedViolations(good, { allowHostNetwork: false })).toEqual([]));
  const changes: [string, (s: Spec) => void, string][] = [
    ['hostNetwork', (s) => void (s.hostNetwork = true), 'hostNetwork'],
    ['hostPID', (s) => void (s.hostPID = true), 'hostPID'],
    ['hostIPC', (s) => void (s.hostIPC = true), 'hostIPC'],
    ['a hostPath volume', (s) => void (s.volumes = [{ name: 'h', hostPath: { path: '/' } }]), 'hostPath'],
    ['privileged', (s) => void (c0(s).privileged = true), 'privileged'],
    ['privilege escalation', (s) => void delete c0(s).allowPrivilegeEscalation, 'allowPrivilegeEscalation'],
    ['no runAsNonRoot', (s) => void delete (s.securityContext as Spec).runAsNonRoot, 'runAsNonRoot'],
    ['root user', (s) => void (c0(s).runAsUser = 0), 'runAsUser 0'],
    ['no seccomp', (s) => void delete (s.securityContext as Spec).seccompProfile, 'seccompProfile'],
    ['seccomp Unconfined', (s) => void (c0(s).seccompProfile = { type: 'Unconfined' }), 'seccompProfile'],
    ['capabilities not dropped', (s) => void (c0(s).capabilities = {}), 'drop ALL'],
    ['an added capability', (s) => void (c0(s).capabilities = { drop: ['ALL'], add: ['NET_ADMIN'] }), 'NET_ADMIN'],
    ['a hostPort', (s) => void ((s.containers as Spec[])[0]!.ports = [{ containerPort: 80, hostPort: 80 }]), 'hostPort'],
  ];
  it.each(changes)('catches %s', (_name, change, says) => {
    expect(mutate(change).join('; ')).toContain(says);
  });
});

describe('every pod the chart renders meets the restricted Pod Security Standard', () => {
  it.each(MATRIX.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const hostNetworkValue = (c.values.hostNetwork as boolean | undefined) ?? true;
    const rendered = pods(renderCase(c));
    expect(rendered.length).toBeGreaterThan(0);
    for (const pod of rendered) {
      const exception = pod.kind === 'DaemonSet' && hostNetworkValue;
      expect(restrictedViolations(pod.spec, { allowHostNetwork: exception }), pod.name).toEqual([]);
      if (!exception) expect(pod.spec.hostNetwork ?? false, pod.name).toBe(false);
      // Every container runs as the image's non-root user, on a read-only root file system.
      for (const container of (pod.spec.containers ?? []) as Spec[]) {
        expect(at(container, 'securityContext', 'readOnlyRootFilesystem'), pod.name).toBe(true);
        expect(at(container, 'securityContext', 'runAsUser'), pod.name).toBe(65532);
      }
    }
  });

  it('the plain manifests in deploy/ too', () => {
    for (const file of ['deploy/imds-labeler.yaml', 'deploy/cleanup/imds-labeler-cleanup.yaml']) {
      const rendered = pods(parseManifests(readFileSync(join(ROOT, file), 'utf8')));
      expect(rendered.length, file).toBeGreaterThan(0);
      for (const pod of rendered) expect(restrictedViolations(pod.spec, { allowHostNetwork: pod.kind === 'DaemonSet' }), `${file}: ${pod.name}`).toEqual([]);
    }
  });
});
