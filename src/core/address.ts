/** host:port addresses: parsing (with clear errors), formatting, and the address a local client dials. */
import { Code, FlotillaError } from './errors.js';

export interface HostPort {
  host: string;
  port: number;
}

/** Parses host:port ([v6]:port for IPv6; an empty host means 0.0.0.0). Port 0 means any free port. */
export function parseHostPort(text: string): (HostPort & { error?: undefined }) | { error: string } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(text.trim());
  if (m === null) return { error: `expected HOST:PORT (e.g. 127.0.0.1:2379)` };
  const port = Number(m[3]);
  if (port > 65535) return { error: `port ${port} is out of range (0-65535)` };
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

/** Like parseHostPort, but a bad address is a CONFIG_INVALID error naming `what`. */
export function requireHostPort(text: string, what: string): HostPort {
  const parsed = parseHostPort(text);
  if (parsed.error !== undefined) throw new FlotillaError(Code.CONFIG_INVALID, `invalid ${what} ${JSON.stringify(text)}: ${parsed.error}`);
  return parsed;
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The address a client on this machine dials to reach a listen address (0.0.0.0 -> 127.0.0.1, :: -> ::1). */
export function dialableAddress(listen: string): string {
  const p = parseHostPort(listen);
  if (p.error !== undefined) return listen;
  const host = p.host === '0.0.0.0' ? '127.0.0.1' : p.host === '::' ? '::1' : p.host;
  return formatHostPort(host, p.port);
}
