import { spawn, type ChildProcess } from 'node:child_process';
import { AgentError } from '../agentError.ts';

/** A kubeconfig user's `exec` section (client.authentication.k8s.io), as client-node reads it. */
export interface ExecConfig {
  command: string;
  args?: string[] | null;
  env?: { name: string; value: string }[] | null;
  apiVersion?: string;
  provideClusterInfo?: boolean;
}

/** The credential plugin did not answer, failed, or answered something that is not an ExecCredential. */
export class CredentialError extends AgentError<'credentials'> {
  readonly kind = 'credentials';
  /** A later attempt runs the plugin again (an identity provider back, a login done). */
  readonly retryable = true;
  constructor(message: string) {
    super(message);
    this.name = 'CredentialError';
  }
}

interface Credential {
  token?: string;
  clientCertificateData?: string;
  clientKeyData?: string;
  /** ms since the epoch; undefined: valid until the API server refuses it. */
  expiresAt?: number;
}

/** How long before expiry a credential is renewed, as client-go does. */
const RENEW_BEFORE_MS = 10_000;
/** Plugin output kept at most (an ExecCredential is a few KiB; a certificate chain, tens). */
const MAX_OUTPUT = 1 << 20;

/**
 * Exec credential plugins (kubelogin, aws-iam-authenticator, gke-gcloud-auth-plugin...) run as
 * kubectl runs them, registered with KubeConfig.addAuthenticator for the users whose `exec`
 * section was taken off (src/kube/kubeconfig.ts).
 *
 * Why not client-node's own ExecAuth: it waits for the plugin forever (a plugin stuck on an
 * interactive login or an unreachable identity provider leaves every request pending, the agent
 * silent and SIGTERM unfinished), runs one plugin per concurrent request, and never kills one.
 * Here one plugin runs at a time for all requests, is killed (its whole process group) after
 * `timeoutMs` or when `signal` aborts, and its credential is kept until it expires or the API
 * server answers 401 (`invalidate`).
 */
export class ExecCredentials {
  readonly #users = new Map<string, ExecConfig>();
  readonly #cache = new Map<string, Credential>();
  readonly #running = new Map<string, Promise<Credential>>();
  readonly #children = new Set<ChildProcess>();
  readonly #timeoutMs: number;
  readonly #env: NodeJS.ProcessEnv;
  readonly #now: () => number;

  constructor(o: { timeoutMs: number; env?: NodeJS.ProcessEnv; signal?: AbortSignal; now?: () => number }) {
    this.#timeoutMs = o.timeoutMs;
    this.#env = o.env ?? process.env;
    this.#now = o.now ?? Date.now;
    o.signal?.addEventListener('abort', () => this.close(), { once: true });
  }

  /** Takes charge of this user's plugin. */
  register(userName: string, exec: ExecConfig): void {
    this.#users.set(userName, exec);
  }

  get size(): number {
    return this.#users.size;
  }

  /** client-node's Authenticator interface. */
  isAuthProvider(user: { name?: string } | null | undefined): boolean {
    return Boolean(user?.name && this.#users.has(user.name));
  }

  async applyAuthentication(user: { name: string }, opts: { headers?: Record<string, unknown>; cert?: unknown; key?: unknown }): Promise<void> {
    const c = await this.credential(user.name);
    if (c.clientCertificateData) opts.cert = c.clientCertificateData;
    if (c.clientKeyData) opts.key = c.clientKeyData;
    if (c.token) {
      opts.headers ??= {};
      opts.headers.Authorization = `Bearer ${c.token}`;
    }
  }

  /** Forget cached credentials: the API server answered 401. */
  invalidate(): void {
    this.#cache.clear();
  }

  /** Kills running plugins; later requests fail at once. */
  close(): void {
    this.#closed = true;
    for (const child of this.#children) kill(child);
  }
  #closed = false;

  credential(name: string): Promise<Credential> {
    const cached = this.#cache.get(name);
    if (cached && (cached.expiresAt === undefined || cached.expiresAt - RENEW_BEFORE_MS > this.#now())) return Promise.resolve(cached);
    let running = this.#running.get(name);
    if (!running) {
      running = this.#run(name).finally(() => this.#running.delete(name));
      this.#running.set(name, running);
    }
    return running;
  }

  async #run(name: string): Promise<Credential> {
    const exec = this.#users.get(name);
    if (!exec) throw new CredentialError(`no exec plugin for user ${name}`);
    if (this.#closed) throw new CredentialError('shutting down');
    const env: NodeJS.ProcessEnv = { ...this.#env };
    for (const e of exec.env ?? []) env[e.name] = e.value;
    env.KUBERNETES_EXEC_INFO = JSON.stringify({ apiVersion: exec.apiVersion ?? 'client.authentication.k8s.io/v1', kind: 'ExecCredential', spec: { interactive: false } });
    const what = `exec credential plugin ${JSON.stringify(exec.command)}`;
    const text = await new Promise<string>((resolve, reject) => {
      // A process group of its own, so a shell script's children die with it.
      const child = spawn(exec.command, exec.args ?? [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: process.platform !== 'win32' });
      this.#children.add(child);
      let out = '';
      let err = '';
      let settled = false;
      const finish = (error: Error | undefined, value = '') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#children.delete(child);
        if (error) reject(error);
        else resolve(value);
      };
      const timer = setTimeout(() => {
        kill(child);
        finish(new CredentialError(`${what} gave no credential within ${Math.round(this.#timeoutMs / 1000)}s; it was stopped (a plugin that waits for an interactive login or an unreachable identity provider does this)`));
      }, this.#timeoutMs);
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.length > MAX_OUTPUT) {
          kill(child);
          finish(new CredentialError(`${what} wrote more than ${MAX_OUTPUT} bytes`));
        }
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2000)));
      child.once('error', (e) => finish(new CredentialError(`${what} could not be started: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
      child.once('close', (code, signal) => {
        if (this.#closed && signal) return finish(new CredentialError(`${what} stopped: shutting down`));
        // The first line of stderr only: plugins print their error there, and nothing else of theirs reaches the log.
        const reason = err.trim().split('\n')[0]?.slice(0, 300);
        if (code !== 0) return finish(new CredentialError(`${what} exited with ${code ?? signal}${reason ? `: ${reason}` : ''}`));
        finish(undefined, out);
      });
    });
    const credential = parseExecCredential(text, what);
    this.#cache.set(name, credential);
    return credential;
  }
}

function kill(child: ChildProcess): void {
  try {
    if (child.pid !== undefined && process.platform !== 'win32') process.kill(-child.pid, 'SIGKILL');
    else child.kill('SIGKILL');
  } catch {
    // Gone already.
  }
  child.stdout?.destroy();
  child.stderr?.destroy();
}

/** The status of an ExecCredential; never quotes the output, which holds the token. */
export function parseExecCredential(text: string, what = 'exec credential plugin'): Credential {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CredentialError(`${what} wrote something that is not JSON (an ExecCredential was expected)`);
  }
  const status = (parsed as { status?: Record<string, unknown> } | null)?.status;
  if (!status || typeof status !== 'object') throw new CredentialError(`${what} wrote an ExecCredential without a status`);
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const c: Credential = {};
  const token = str(status.token);
  const cert = str(status.clientCertificateData);
  const key = str(status.clientKeyData);
  if (token) c.token = token;
  if (cert) c.clientCertificateData = cert;
  if (key) c.clientKeyData = key;
  if (!token && !(cert && key)) throw new CredentialError(`${what} wrote an ExecCredential with neither a token nor a client certificate and key`);
  const expiry = str(status.expirationTimestamp);
  if (expiry) {
    const at = Date.parse(expiry);
    if (Number.isNaN(at)) throw new CredentialError(`${what} wrote an expirationTimestamp that is not a time`);
    c.expiresAt = at;
  }
  return c;
}
