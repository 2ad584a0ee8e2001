/**
 * Container names and images from the runtimes' own state files (no socket, no API call): Docker's
 * `<docker-root>/containers/<id>/config.v2.json` (Name, Config.Image) and Podman's
 * `<storage-root>/overlay-containers/containers.json` (names, metadata image-name). containerd and CRI-O
 * keep theirs behind their APIs: their containers are labelled by id only. Lookups are cached per id
 * for `ttlMs`, a missing or unreadable file is not an error.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ContainerNameOptions {
  /** Docker's data root. Default /var/lib/docker. */
  dockerRoot?: string;
  /** Podman's (containers/storage) root. Default /var/lib/containers/storage. */
  podmanRoot?: string;
  /** How long a lookup is remembered. Default 60 000 ms. */
  ttlMs?: number;
}

export interface ContainerName {
  name?: string;
  image?: string;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Parses Docker's config.v2.json. */
export function parseDockerConfig(raw: unknown): ContainerName {
  if (typeof raw !== 'object' || raw === null) return {};
  const r = raw as { Name?: unknown; Config?: { Image?: unknown } };
  const name = str(r.Name)?.replace(/^\//, '');
  const image = str(r.Config?.Image);
  return { ...(name !== undefined ? { name } : {}), ...(image !== undefined ? { image } : {}) };
}

/** Parses Podman's containers.json into a map id -> name and image. */
export function parsePodmanContainers(raw: unknown): Map<string, ContainerName> {
  const out = new Map<string, ContainerName>();
  if (!Array.isArray(raw)) return out;
  for (const c of raw as unknown[]) {
    if (typeof c !== 'object' || c === null) continue;
    const e = c as { id?: unknown; names?: unknown; metadata?: unknown };
    const id = str(e.id);
    if (id === undefined) continue;
    const name = Array.isArray(e.names) ? str(e.names[0]) : undefined;
    let image: string | undefined;
    const meta = str(e.metadata);
    if (meta !== undefined) {
      try {
        image = str((JSON.parse(meta) as { 'image-name'?: unknown })['image-name']);
      } catch {
        image = undefined;
      }
    }
    out.set(id, { ...(name !== undefined ? { name } : {}), ...(image !== undefined ? { image } : {}) });
  }
  return out;
}

export class ContainerNames {
  private readonly dockerRoot: string;
  private readonly podmanRoot: string;
  private readonly ttlMs: number;
  private readonly cache = new Map<string, { value: ContainerName; atMs: number }>();
  private podman: { value: Map<string, ContainerName>; atMs: number } | undefined;

  constructor(options: ContainerNameOptions = {}) {
    this.dockerRoot = options.dockerRoot ?? '/var/lib/docker';
    this.podmanRoot = options.podmanRoot ?? '/var/lib/containers/storage';
    this.ttlMs = options.ttlMs ?? 60_000;
  }

  /** The name and image of container `id` of `runtime`, as far as its state files tell. */
  lookup(runtime: string, id: string, nowMs: number): ContainerName {
    const key = `${runtime}/${id}`;
    const hit = this.cache.get(key);
    if (hit !== undefined && nowMs - hit.atMs < this.ttlMs) return hit.value;
    let value: ContainerName = {};
    if (runtime === 'docker') value = parseDockerConfig(readJson(join(this.dockerRoot, 'containers', id, 'config.v2.json')));
    else if (runtime === 'podman') value = this.podmanTable(nowMs).get(id) ?? {};
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, { value, atMs: nowMs });
    return value;
  }

  private podmanTable(nowMs: number): Map<string, ContainerName> {
    if (this.podman === undefined || nowMs - this.podman.atMs >= this.ttlMs) {
      this.podman = { value: parsePodmanContainers(readJson(join(this.podmanRoot, 'overlay-containers', 'containers.json'))), atMs: nowMs };
    }
    return this.podman.value;
  }
}
