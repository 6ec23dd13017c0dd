import os from 'node:os';

/**
 * The Host header check (DNS rebinding: a page on evil.example whose name is made to resolve to
 * 127.0.0.1 reaches a local server, but its requests still say `Host: evil.example`). A request is
 * answered when its host is:
 * - localhost, 127.0.0.1 or [::1] (any port);
 * - the address the server is bound to, or the name it was told to bind (EXEMPLAR_HOST, --host);
 * - when bound to every interface (0.0.0.0 or ::), any address of this machine, or its host name;
 * - listed in EXEMPLAR_ALLOWED_HOSTS: `name` (any port) or `name:port`; `*` allows every host
 *   (for a reverse proxy that checks Host itself).
 * A request without a Host header (HTTP/1.0; Node refuses HTTP/1.1 without one) is answered.
 */
export class HostCheck {
  private readonly names: Set<string>;
  private readonly anyInterface: boolean;
  private readonly allowAll: boolean;
  private readonly allowed: Set<string>;

  constructor(opts: { boundAddress: string; configuredHost: string; allowedHosts: string[] }) {
    this.anyInterface = ['0.0.0.0', '::', '0:0:0:0:0:0:0:0'].includes(opts.boundAddress);
    this.names = new Set(['localhost', '127.0.0.1', '::1', bare(opts.boundAddress), bare(opts.configuredHost)]);
    this.allowAll = opts.allowedHosts.includes('*');
    this.allowed = new Set(opts.allowedHosts.map((h) => (parseHost(h) ? normalize(h) : h.toLowerCase())));
  }

  /** Undefined when the request may proceed; otherwise why not, as a status and message. */
  check(header: string | undefined): { status: number; code: string; message: string } | undefined {
    if (header === undefined) return undefined;
    const parsed = parseHost(header);
    if (!parsed) {
      return { status: 400, code: 'bad_host', message: `the Host header ${JSON.stringify(header.slice(0, 100))} is not a valid host[:port]` };
    }
    if (this.allowAll || this.names.has(parsed.name) || this.allowed.has(parsed.name) || this.allowed.has(normalize(header))) return undefined;
    if (this.anyInterface && machineNames().has(parsed.name)) return undefined;
    return {
      status: 403,
      code: 'forbidden_host',
      message:
        `this server does not answer to the host "${parsed.name}" (a guard against DNS rebinding): it answers to localhost, ` +
        `its own address and the hosts in EXEMPLAR_ALLOWED_HOSTS. To allow this one, add it to that comma-separated list, e.g. EXEMPLAR_ALLOWED_HOSTS=${parsed.display}`,
    };
  }
}

/** `name`, `name:port`, `1.2.3.4:port`, `[v6]:port`, or undefined when it is none of these. */
export function parseHost(value: string): { name: string; port?: number; display: string } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9._-]{0,252})?))(?::(\d{1,5}))?$/.exec(value);
  if (!m) return undefined;
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && port > 65535) return undefined;
  const name = (m[1] ?? m[2]).toLowerCase().replace(/\.$/, '');
  return { name, port, display: m[1] ? `[${name}]` : name };
}

/** A host as compared: lower case, no trailing dot, IPv6 without brackets; the port kept if given. */
function normalize(value: string): string {
  const p = parseHost(value);
  if (!p) return value.toLowerCase();
  return p.port === undefined ? p.name : `${p.name}:${p.port}`;
}

function bare(host: string): string {
  return host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
}

/**
 * This machine's addresses and host name, read when needed: interfaces come and go (DHCP, VPNs),
 * and only a host that matched nothing else gets here.
 */
function machineNames(): Set<string> {
  const names = new Set<string>([os.hostname().toLowerCase()]);
  for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) names.add(a.address.toLowerCase().replace(/%.*$/, ''));
  return names;
}
