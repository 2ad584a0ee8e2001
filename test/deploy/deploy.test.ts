/**
 * deploy/: the install scripts pass shellcheck, install a server host and an agent host into a throwaway
 * root (--root), write units that systemd-analyze accepts and whose command lines match the CLI contract
 * (ARCHITECTURE.md 5a), change nothing when run a second time, refuse bad input before writing anything,
 * and the installed server starts from its unit's command line and environment file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { envName } from '../../src/core/config.js';
import { freePort, REPO_ROOT, startProcess } from '../testkit/index.js';

const DEPLOY = join(REPO_ROOT, 'deploy');
const SERVER_SCRIPT = join(DEPLOY, 'install-server.sh');
const AGENT_SCRIPT = join(DEPLOY, 'install-agent.sh');
const SHELLCHECK = '/usr/bin/shellcheck';
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';

/**
 * The command-line contract the units rely on (ARCHITECTURE.md 5a and the deployment issue): the long
 * options of each subcommand. `--advertise-host` is the shipped `flotilla node` option the agent-host
 * script sets so that peers dial the host's address rather than a guessed one.
 */
const CONTRACT: Record<string, { options: string[]; required: string[][] }> = {
  server: { options: ['--listen', '--http', '--coord-listen', '--etcd', '--db', '--data-dir', '--config'], required: [['--listen'], ['--http'], ['--coord-listen', '--etcd'], ['--data-dir']] },
  agent: {
    // The agent's tuning options (src/cli/agent.ts) may go in an agent-<hostname>.env.
    options: ['--hostname', '--server', '--etcd', '--data-dir', '--heartbeat-ttl', '--buffer-samples', '--spill-bytes', '--config'],
    required: [['--hostname'], ['--server'], ['--etcd'], ['--data-dir']] },
  node: {
    options: ['--name', '--join', '--peers', '--listen', '--http', '--xfer', '--roles', '--zone', '--backend', '--data-dir', '--advertise-host', '--config'],
    required: [['--name'], ['--join', '--peers'], ['--listen'], ['--http'], ['--data-dir']],
  },
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function bash(script: string, args: string[]): Run {
  const res = spawnSync('bash', [script, ...args], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, LC_ALL: 'C' } });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Every entry under dir: type, mode, content hash or link target, and modification time. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const p = join(dir, r);
      const st = lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out.set(r, `link ${readlinkSync(p)} ${st.mtimeMs}`);
      else if (st.isDirectory()) {
        out.set(r, `dir ${mode} ${st.mtimeMs}`);
        walk(r);
      } else out.set(r, `file ${mode} ${createHash('sha256').update(readFileSync(p)).digest('hex')} ${st.mtimeMs}`);
    }
  };
  walk('');
  return out;
}

function diff(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) out.push(`${k}: ${v} -> ${b.get(k) ?? '(gone)'}`);
  for (const k of b.keys()) if (!a.has(k)) out.push(`${k}: (new) ${b.get(k)}`);
  return out;
}

/** A systemd unit file: [section] -> list of [key, value] in order (comments and blank lines dropped). */
function parseUnit(text: string): Map<string, [string, string][]> {
  const out = new Map<string, [string, string][]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const m = /^\[(.+)\]$/.exec(line);
    if (m) {
      section = m[1]!;
      out.set(section, out.get(section) ?? []);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(eq > 0, `not a key=value line: ${line}`);
    out.get(section)!.push([line.slice(0, eq), line.slice(eq + 1)]);
  }
  return out;
}

function values(unit: Map<string, [string, string][]>, section: string, key: string): string[] {
  return (unit.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v);
}

/** KEY=VALUE lines of an environment file. */
function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    assert.ok(eq > 0, `not a KEY=VALUE line: ${line}`);
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** FLOTILLA_COORD_LISTEN -> --coord-listen, for each option of the contract (envName is the CLI's rule). */
function optionOfEnv(sub: string, variable: string): string | undefined {
  const camel = (opt: string): string => opt.slice(2).replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
  return CONTRACT[sub]!.options.find((o) => envName(camel(o)) === variable);
}

interface Invocation {
  argv: string[];
  sub: string;
  flags: Map<string, string>;
  env: Record<string, string>;
}

/** The command a unit instance runs: ExecStart with %i expanded, and the environment of its files. */
function invocation(root: string, unitFile: string, instance: string): Invocation {
  const unit = parseUnit(readFileSync(unitFile, 'utf8'));
  const exec = values(unit, 'Service', 'ExecStart');
  assert.equal(exec.length, 1, 'one ExecStart');
  const argv = exec[0]!.replaceAll('%i', instance).split(/\s+/);
  const env: Record<string, string> = {};
  for (const f of values(unit, 'Service', 'EnvironmentFile')) {
    const optional = f.startsWith('-');
    const path = join(root, (optional ? f.slice(1) : f).replaceAll('%i', instance));
    if (!existsSync(path)) {
      assert.ok(optional, `the unit needs ${path}`);
      continue;
    }
    Object.assign(env, parseEnv(readFileSync(path, 'utf8')));
  }
  const sub = argv[3]!;
  const flags = new Map<string, string>();
  for (let i = 4; i < argv.length; i += 2) {
    assert.match(argv[i]!, /^--[a-z-]+$/, `ExecStart: ${argv[i]} is not an option`);
    assert.ok(argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--'), `ExecStart: ${argv[i]} has no value`);
    flags.set(argv[i]!, argv[i + 1]!);
  }
  return { argv, sub, flags, env };
}

/** Checks an invocation against the contract and returns the effective options (flags win over variables). */
function checkContract(inv: Invocation, prefix: string): Map<string, string> {
  assert.deepEqual(inv.argv.slice(0, 3), ['/usr/bin/env', 'node', `${prefix}/bin/flotilla.js`]);
  const contract = CONTRACT[inv.sub];
  assert.ok(contract, `unknown subcommand ${inv.sub}`);
  const effective = new Map<string, string>();
  for (const [variable, value] of Object.entries(inv.env)) {
    const opt = optionOfEnv(inv.sub, variable);
    assert.ok(opt, `${variable} is not a FLOTILLA_* variable of \`flotilla ${inv.sub}\``);
    effective.set(opt, value);
  }
  for (const [flag, value] of inv.flags) {
    assert.ok(contract.options.includes(flag), `${flag} is not an option of \`flotilla ${inv.sub}\``);
    effective.set(flag, value);
  }
  for (const oneOf of contract.required) {
    assert.equal(oneOf.filter((o) => effective.has(o)).length, 1, `exactly one of ${oneOf.join(', ')} for \`flotilla ${inv.sub}\``);
  }
  return effective;
}

/** systemd-analyze verify on unit paths; returns its complaints about our units (none expected). */
function verify(paths: string[]): { code: number | null; complaints: string[] } {
  const res = spawnSync(SYSTEMD_ANALYZE, ['verify', '--man=no', ...paths], {
    encoding: 'utf8',
    timeout: 60_000,
    cwd: tmpdir(),
    env: { ...process.env, SYSTEMD_LOG_LEVEL: 'notice', SYSTEMD_PAGER: '' },
  });
  const complaints = `${res.stdout}\n${res.stderr}`.split('\n').filter((l) => l.trim() !== '');
  return { code: res.status, complaints };
}

// A copy of the checkout's built tree: the scripts install from it, so a build running in the checkout
// meanwhile cannot change what the idempotence check compares.
let work: string;
let source: string;

before(() => {
  assert.ok(existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js')), 'dist/ is missing: run `npm run build` first (npm test does)');
  work = mkdtempSync(join(tmpdir(), 'flotilla-deploy-'));
  source = join(work, 'source');
  for (const e of ['bin', 'dist', 'proto', 'deploy', 'docs', 'package.json', 'package-lock.json', 'README.md']) {
    if (existsSync(join(REPO_ROOT, e))) cpSync(join(REPO_ROOT, e), join(source, e), { recursive: true });
  }
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function freshRoot(name: string): string {
  const root = join(work, name);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root);
  return root;
}

const baseArgs = (root: string): string[] => ['--root', root, '--no-packages', '--skip-build', '--source', source];

describe('deploy scripts', () => {
  it('pass shellcheck (the scripts and the library they source)', () => {
    const scripts = readdirSync(DEPLOY).filter((f) => f.endsWith('.sh'));
    assert.deepEqual(scripts.sort(), ['install-agent.sh', 'install-server.sh', 'lib.sh']);
    const res = spawnSync(SHELLCHECK, ['-x', '--severity=style', ...scripts], { cwd: DEPLOY, encoding: 'utf8', timeout: 60_000 });
    assert.equal(res.status, 0, `shellcheck:\n${res.stdout}${res.stderr}`);
    for (const s of ['install-server.sh', 'install-agent.sh']) {
      const text = readFileSync(join(DEPLOY, s), 'utf8');
      assert.match(text, /^#!\/usr\/bin\/env bash\n/, `${s} starts with a bash shebang`);
      assert.match(text, /^set -euo pipefail$/m, `${s} sets -euo pipefail`);
      assert.ok((lstatSync(join(DEPLOY, s)).mode & 0o111) !== 0, `${s} is executable`);
    }
  });

  it('install a server host into a throwaway root; a second run changes nothing', () => {
    const root = freshRoot('server');
    const args = [...baseArgs(root), '--ip', '192.0.2.10'];
    const first = ok(bash(SERVER_SCRIPT, args), 'install-server.sh');
    assert.match(first.stdout, /SUMMARY/);
    assert.match(first.stdout, /gRPC \(agents, nodes\) 192\.0\.2\.10:50051/);
    assert.match(first.stdout, /coordination \(etcd\)\s+192\.0\.2\.10:2379/);
    assert.match(first.stdout, /http:\/\/192\.0\.2\.10:8080\//);
    assert.match(first.stdout, /systemctl start flotilla-server/);
    assert.match(first.stdout, /etcdctl --endpoints=192\.0\.2\.10:2379 endpoint status/);
    assert.match(first.stdout, /journalctl -u flotilla-server/);
    assert.match(first.stdout, /would run: useradd --system .* flotilla/);
    assert.match(first.stdout, /ufw allow 50051\/tcp; ufw allow 2379\/tcp; ufw allow 8080\/tcp/);

    assert.equal(readFileSync(join(root, 'etc/systemd/system/flotilla-server.service'), 'utf8'), readFileSync(join(DEPLOY, 'systemd/flotilla-server.service'), 'utf8'));
    assert.deepEqual(parseEnv(readFileSync(join(root, 'etc/flotilla/server.env'), 'utf8')), {
      FLOTILLA_LISTEN: '0.0.0.0:50051',
      FLOTILLA_HTTP: '0.0.0.0:8080',
      FLOTILLA_COORD_LISTEN: '0.0.0.0:2379',
    });
    assert.equal(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/flotilla-server.service')), '/etc/systemd/system/flotilla-server.service');
    assert.equal(readlinkSync(join(root, 'usr/local/bin/flotilla')), '/opt/flotilla/bin/flotilla.js');
    assert.equal(readFileSync(join(root, 'opt/flotilla/dist/cli/main.js'), 'utf8'), readFileSync(join(source, 'dist/cli/main.js'), 'utf8'));
    assert.ok((lstatSync(join(root, 'opt/flotilla/bin/flotilla.js')).mode & 0o111) !== 0, 'bin/flotilla.js stays executable');
    assert.deepEqual(readdirSync(root).sort(), ['etc', 'opt', 'usr'], 'nothing written outside etc, opt and usr of the root');

    const before = snapshot(root);
    const second = ok(bash(SERVER_SCRIPT, args), 'install-server.sh (second run)');
    assert.match(second.stdout, /nothing changed/);
    assert.deepEqual(diff(before, snapshot(root)), []);
  });

  it('install an agent host with two agents and a node; a second run changes nothing', () => {
    const root = freshRoot('agent');
    const args = [...baseArgs(root), '--ip', '192.0.2.20', '--server-ip', '192.0.2.10', '--hostnames', 'node-a,node-b', '--nodes', 'node-c'];
    const first = ok(bash(AGENT_SCRIPT, args), 'install-agent.sh');
    assert.match(first.stdout, /Agents\s+node-a node-b/);
    assert.match(first.stdout, /nc -vz 192\.0\.2\.10 50051/);
    assert.match(first.stdout, /nc -vz 192\.0\.2\.10 2379/);
    assert.match(first.stdout, /systemctl start flotilla-agent@node-a\.service flotilla-agent@node-b\.service flotilla-node@node-c\.service/);
    assert.match(first.stdout, /etcdctl --endpoints=192\.0\.2\.10:2379 put \/monitor\/config\/node-a /);
    assert.match(first.stdout, /ufw allow 7101\/tcp; ufw allow 9001\/tcp/);

    const etc = join(root, 'etc/flotilla');
    assert.deepEqual(parseEnv(readFileSync(join(etc, 'agent.env'), 'utf8')), { FLOTILLA_SERVER: '192.0.2.10:50051', FLOTILLA_ETCD: '192.0.2.10:2379' });
    assert.deepEqual(parseEnv(readFileSync(join(etc, 'agent-node-a.env'), 'utf8')), {}, 'per-agent file: comments only');
    assert.deepEqual(parseEnv(readFileSync(join(etc, 'node.env'), 'utf8')), { FLOTILLA_JOIN: '192.0.2.10:50051', FLOTILLA_ADVERTISE_HOST: '192.0.2.20' });
    assert.deepEqual(parseEnv(readFileSync(join(etc, 'node-node-c.env'), 'utf8')), { FLOTILLA_LISTEN: '0.0.0.0:7101', FLOTILLA_HTTP: '0.0.0.0:9001' });
    const wants = join(root, 'etc/systemd/system/multi-user.target.wants');
    assert.deepEqual(readdirSync(wants).sort(), ['flotilla-agent@node-a.service', 'flotilla-agent@node-b.service', 'flotilla-node@node-c.service']);
    assert.equal(readlinkSync(join(wants, 'flotilla-agent@node-b.service')), '/etc/systemd/system/flotilla-agent@.service');

    const before = snapshot(root);
    const second = ok(bash(AGENT_SCRIPT, args), 'install-agent.sh (second run)');
    assert.match(second.stdout, /nothing changed/);
    assert.deepEqual(diff(before, snapshot(root)), []);
  });

  it('run each unit as the CLI contract says, with its options from the environment files', () => {
    const server = join(work, 'server');
    const agent = join(work, 'agent');
    const s = checkContract(invocation(server, join(server, 'etc/systemd/system/flotilla-server.service'), ''), '/opt/flotilla');
    assert.equal(s.get('--data-dir'), '/var/lib/flotilla/server');
    assert.equal(s.get('--coord-listen'), '0.0.0.0:2379');
    for (const name of ['node-a', 'node-b']) {
      const inv = invocation(agent, join(agent, 'etc/systemd/system/flotilla-agent@.service'), name);
      assert.equal(inv.sub, 'agent');
      const a = checkContract(inv, '/opt/flotilla');
      assert.equal(a.get('--hostname'), name);
      assert.equal(a.get('--server'), '192.0.2.10:50051');
      assert.equal(a.get('--etcd'), '192.0.2.10:2379');
      assert.equal(a.get('--data-dir'), `/var/lib/flotilla/agent-${name}`, 'each agent has its own data directory');
    }
    const n = checkContract(invocation(agent, join(agent, 'etc/systemd/system/flotilla-node@.service'), 'node-c'), '/opt/flotilla');
    assert.equal(n.get('--name'), 'node-c');
    assert.equal(n.get('--join'), '192.0.2.10:50051');

    // The data directory is the unit's state directory, writable under ProtectSystem=strict.
    for (const [file, instance, dir] of [
      [join(server, 'etc/systemd/system/flotilla-server.service'), '', 'flotilla/server'],
      [join(agent, 'etc/systemd/system/flotilla-agent@.service'), 'node-a', 'flotilla/agent-node-a'],
      [join(agent, 'etc/systemd/system/flotilla-node@.service'), 'node-c', 'flotilla/node-node-c'],
    ] as const) {
      const unit = parseUnit(readFileSync(file, 'utf8'));
      const one = (key: string): string => {
        const v = values(unit, 'Service', key);
        assert.equal(v.length, 1, `${file}: one ${key}`);
        return v[0]!.replaceAll('%i', instance);
      };
      assert.equal(one('StateDirectory'), dir);
      assert.equal(one('WorkingDirectory'), `/var/lib/${dir}`);
      assert.equal(one('User'), 'flotilla');
      assert.equal(one('Restart'), 'on-failure');
      assert.equal(one('KillSignal'), 'SIGTERM');
      assert.match(one('TimeoutStopSec'), /^\d+s$/);
      assert.equal(one('ProtectSystem'), 'strict');
      assert.equal(one('NoNewPrivileges'), 'yes');
      assert.equal(one('PrivateTmp'), 'yes');
      assert.equal(one('ProtectHome'), 'yes');
      assert.deepEqual(values(unit, 'Unit', 'After'), ['network-online.target']);
      assert.deepEqual(values(unit, 'Install', 'WantedBy'), ['multi-user.target']);
      assert.ok(!values(unit, 'Service', 'MemoryDenyWriteExecute').length, 'Node needs writable executable memory (JIT)');
      if (!file.endsWith('flotilla-server.service')) {
        for (const hide of ['ProtectProc', 'ProcSubset', 'PrivateDevices', 'PrivateNetwork', 'InaccessiblePaths']) {
          assert.deepEqual(values(unit, 'Service', hide), [], `the agent reads /proc, /sys and cgroups: no ${hide}`);
        }
      }
    }
  });

  it('use only options the shipped flotilla command has', async () => {
    const { buildProgram } = await import('../../src/cli/main.js');
    const program = await buildProgram();
    const cases: [string, string, string][] = [
      [join(work, 'server'), 'etc/systemd/system/flotilla-server.service', ''],
      [join(work, 'agent'), 'etc/systemd/system/flotilla-agent@.service', 'node-a'],
      [join(work, 'agent'), 'etc/systemd/system/flotilla-node@.service', 'node-c'],
    ];
    for (const [root, file, instance] of cases) {
      const inv = invocation(root, join(root, file), instance);
      const cmd = program.commands.find((c) => c.name() === inv.sub);
      assert.ok(cmd, `flotilla has no ${inv.sub} command`);
      const longs = new Set(cmd.options.map((o) => o.long));
      for (const opt of checkContract(inv, '/opt/flotilla').keys()) assert.ok(longs.has(opt), `\`flotilla ${inv.sub}\` has no ${opt}`);
    }
  });

  it('write units that systemd-analyze verify accepts (and it does reject a broken one here)', () => {
    const units = [
      join(work, 'server/etc/systemd/system/flotilla-server.service'),
      join(work, 'agent/etc/systemd/system/flotilla-agent@node-a.service'),
      join(work, 'agent/etc/systemd/system/flotilla-agent@node-b.service'),
      join(work, 'agent/etc/systemd/system/flotilla-node@node-c.service'),
    ];
    for (const u of units) {
      const r = verify([u]);
      assert.equal(r.code, 0, `${u}:\n${r.complaints.join('\n')}`);
      assert.deepEqual(
        r.complaints.filter((l) => /flotilla/.test(l)),
        [],
        `systemd-analyze verify complained about ${u}`,
      );
    }
    // The control: verify really parses the files and checks the executable in this container.
    const broken = join(work, 'broken');
    mkdirSync(broken, { recursive: true });
    const text = readFileSync(units[0]!, 'utf8').replace('/usr/bin/env node', '/nonexistent/node').replace('Restart=on-failure', 'Restart=sometimes');
    writeFileSync(join(broken, 'flotilla-broken.service'), text);
    const r = verify([join(broken, 'flotilla-broken.service')]);
    assert.notEqual(r.code, 0);
    assert.ok(r.complaints.some((l) => /\/nonexistent\/node is not executable/.test(l)), r.complaints.join('\n'));
    assert.ok(r.complaints.some((l) => /Failed to parse service restart specifier/.test(l)), r.complaints.join('\n'));
  });

  it('harden every unit to an exposure level of at most 5.0 (systemd-analyze security)', () => {
    for (const u of [
      join(work, 'server/etc/systemd/system/flotilla-server.service'),
      join(work, 'agent/etc/systemd/system/flotilla-agent@node-a.service'),
      join(work, 'agent/etc/systemd/system/flotilla-node@node-c.service'),
    ]) {
      const res = spawnSync(SYSTEMD_ANALYZE, ['security', '--offline=true', '--no-pager', '--threshold=50', u], {
        encoding: 'utf8',
        timeout: 60_000,
        cwd: tmpdir(),
      });
      const level = /Overall exposure level for \S+: (\d+\.\d)/.exec(res.stdout);
      assert.ok(level, `no exposure level for ${u}:\n${res.stdout}${res.stderr}`);
      assert.equal(res.status, 0, `${u}: exposure ${level[1]} above 5.0`);
    }
  });

  it('install under another --prefix and with a real etcd, pointing units and summary at them', () => {
    const root = freshRoot('prefix');
    ok(bash(SERVER_SCRIPT, [...baseArgs(root), '--prefix', '/srv/flotilla', '--ip', '192.0.2.10', '--etcd', '192.0.2.5:2379,192.0.2.6:2379']), 'install-server.sh --prefix --etcd');
    const unitFile = join(root, 'etc/systemd/system/flotilla-server.service');
    assert.doesNotMatch(readFileSync(unitFile, 'utf8'), /\/opt\/flotilla/);
    const s = checkContract(invocation(root, unitFile, ''), '/srv/flotilla');
    assert.equal(s.get('--etcd'), '192.0.2.5:2379,192.0.2.6:2379');
    assert.equal(s.has('--coord-listen'), false);
    assert.ok(existsSync(join(root, 'srv/flotilla/bin/flotilla.js')));
    assert.equal(readlinkSync(join(root, 'usr/local/bin/flotilla')), '/srv/flotilla/bin/flotilla.js');
  });

  it('keep an edited per-agent file, restore an edited shared one (keeping a .bak), and drop files gone from the source', () => {
    const root = freshRoot('edits');
    const args = [...baseArgs(root), '--ip', '192.0.2.20', '--server-ip', '192.0.2.10', '--hostnames', 'node-a'];
    ok(bash(AGENT_SCRIPT, args), 'install-agent.sh');
    const etc = join(root, 'etc/flotilla');
    writeFileSync(join(etc, 'agent-node-a.env'), 'FLOTILLA_SERVER=192.0.2.11:50051\n');
    writeFileSync(join(etc, 'agent.env'), 'FLOTILLA_SERVER=wrong:1\n');
    writeFileSync(join(source, 'docs', 'zz-extra.md'), 'extra\n');
    const r = ok(bash(AGENT_SCRIPT, args), 'install-agent.sh (after edits, with an extra source file)');
    assert.ok(existsSync(join(root, 'opt/flotilla/docs/zz-extra.md')));
    rmSync(join(source, 'docs', 'zz-extra.md'));
    ok(bash(AGENT_SCRIPT, args), 'install-agent.sh (the extra source file gone)');
    assert.equal(readFileSync(join(etc, 'agent-node-a.env'), 'utf8'), 'FLOTILLA_SERVER=192.0.2.11:50051\n');
    assert.equal(parseEnv(readFileSync(join(etc, 'agent.env'), 'utf8')).FLOTILLA_SERVER, '192.0.2.10:50051');
    assert.equal(readFileSync(join(etc, 'agent.env.bak'), 'utf8'), 'FLOTILLA_SERVER=wrong:1\n');
    assert.match(r.stderr, /\/etc\/flotilla\/agent\.env differed .* is \/etc\/flotilla\/agent\.env\.bak/);
    assert.equal(existsSync(join(root, 'opt/flotilla/docs/zz-extra.md')), false, 'a file gone from the source is removed');
    // The per-agent file wins over the shared one.
    const inv = invocation(root, join(root, 'etc/systemd/system/flotilla-agent@.service'), 'node-a');
    assert.equal(checkContract(inv, '/opt/flotilla').get('--server'), '192.0.2.11:50051');
  });

  it('--dry-run writes nothing and says what it would write', () => {
    const root = freshRoot('dry');
    const r = ok(bash(SERVER_SCRIPT, [...baseArgs(root), '--dry-run', '--ip', '192.0.2.10']), 'install-server.sh --dry-run');
    assert.match(r.stdout, /would write: \/etc\/flotilla\/server\.env/);
    assert.match(r.stdout, /would write: \/etc\/systemd\/system\/flotilla-server\.service/);
    assert.match(r.stdout, /dry run: nothing was written/);
    assert.deepEqual(readdirSync(root), []);
  });

  const bad: { name: string; script: string; args: string[]; message: RegExp }[] = [
    { name: 'an agent host without --server-ip', script: AGENT_SCRIPT, args: [], message: /--server-ip ADDR is required/ },
    { name: 'an agent name with a space', script: AGENT_SCRIPT, args: ['--server-ip', '192.0.2.10', '--hostnames', 'node-a,bad name'], message: /'bad name' is not a valid agent or node name/ },
    { name: 'an agent name given twice', script: AGENT_SCRIPT, args: ['--server-ip', '192.0.2.10', '--hostnames', 'node-a', '--nodes', 'node-a'], message: /'node-a' is given twice/ },
    { name: 'a hostile agent name', script: AGENT_SCRIPT, args: ['--server-ip', '192.0.2.10', '--hostnames', '../../etc/passwd'], message: /not a valid agent or node name/ },
    { name: 'a bad server address', script: AGENT_SCRIPT, args: ['--server-ip', 'a b;rm'], message: /--server-ip 'a b;rm' is not an IPv4 address or a host name/ },
    { name: 'a bad etcd list', script: AGENT_SCRIPT, args: ['--server-ip', '192.0.2.10', '--etcd', '192.0.2.10'], message: /--etcd: '192\.0\.2\.10' is not host:port/ },
    { name: 'an unknown role', script: AGENT_SCRIPT, args: ['--server-ip', '192.0.2.10', '--nodes', 'n1', '--node-roles', 'agent,db'], message: /'db' is not a role/ },
    { name: 'an unknown option', script: SERVER_SCRIPT, args: ['--frobnicate'], message: /unknown option '--frobnicate'/ },
    { name: 'an option without its value', script: SERVER_SCRIPT, args: ['--grpc-port'], message: /--grpc-port needs a value/ },
    { name: 'port 0', script: SERVER_SCRIPT, args: ['--grpc-port', '0'], message: /--grpc-port must be a port number 1-65535/ },
    { name: 'port 70000', script: SERVER_SCRIPT, args: ['--http-port=70000'], message: /--http-port must be a port number 1-65535/ },
    { name: 'two services on one port', script: SERVER_SCRIPT, args: ['--http-port', '50051'], message: /must differ/ },
    { name: 'a relative prefix', script: SERVER_SCRIPT, args: ['--prefix', 'opt/flotilla'], message: /--prefix must be an absolute path/ },
    { name: 'a system directory as prefix', script: SERVER_SCRIPT, args: ['--prefix', '/usr/'], message: /--prefix \/usr is a system directory/ },
    { name: 'a missing source', script: SERVER_SCRIPT, args: ['--source', '/nonexistent/flotilla'], message: /--source \/nonexistent\/flotilla is not a directory/ },
    { name: 'a source that is not a checkout', script: SERVER_SCRIPT, args: ['--source', '/etc'], message: /is not a Flotilla checkout/ },
  ];
  for (const b of bad) {
    it(`refuse ${b.name} with one message, writing nothing`, () => {
      const root = freshRoot('bad');
      const r = bash(b.script, ['--root', root, '--no-packages', '--skip-build', '--ip', '192.0.2.20', ...(b.args.some((a) => a.startsWith('--source')) ? [] : ['--source', source]), ...b.args]);
      assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, b.message);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.deepEqual(readdirSync(root), [], 'nothing written');
    });
  }

  it('refuse a prefix that holds something else, writing nothing there', () => {
    const root = freshRoot('occupied');
    mkdirSync(join(root, 'srv/app'), { recursive: true });
    writeFileSync(join(root, 'srv/app/keep.txt'), 'mine\n');
    const r = bash(SERVER_SCRIPT, [...baseArgs(root), '--ip', '192.0.2.10', '--prefix', '/srv/app']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /\/srv\/app exists, is not empty and was not installed by these scripts/);
    assert.deepEqual(readdirSync(join(root, 'srv/app')), ['keep.txt']);
  });

  it('install a server and an agent whose unit command lines and environment files work together', async (t) => {
    const root = freshRoot('live');
    const [grpc, http, coord] = [await freePort(), await freePort(), await freePort()];
    const ports = ['--grpc-port', `${grpc}`, '--coord-port', `${coord}`];
    ok(bash(SERVER_SCRIPT, [...baseArgs(root), '--ip', '127.0.0.1', '--bind', '127.0.0.1', '--http-port', `${http}`, ...ports]), 'install-server.sh (loopback ports)');
    ok(bash(AGENT_SCRIPT, [...baseArgs(root), '--ip', '127.0.0.1', '--server-ip', '127.0.0.1', '--hostnames', 'node-a', ...ports]), 'install-agent.sh (same root)');
    // --skip-build installs no dependencies: lend the checkout's to the installed tree.
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'opt/flotilla/node_modules'));

    /** Starts what systemd would run for a unit instance, with the paths of the root. */
    const startUnit = async (file: string, instance: string, ready: () => Promise<boolean>) => {
      const inv = invocation(root, join(root, 'etc/systemd/system', file), instance);
      const state = inv.flags.get('--data-dir')!;
      const dataDir = join(root, state);
      mkdirSync(dataDir, { recursive: true });
      const args = inv.argv.slice(2).map((a) => (a.startsWith('/opt/flotilla/') ? join(root, a) : a === state ? dataDir : a));
      return startProcess({ name: `installed ${file.replace('@.', `@${instance}.`)}`, command: process.execPath, args, env: inv.env, cwd: dataDir, dataDir, t, ready });
    };
    const etcdctl = (...args: string[]) => {
      const r = spawnSync('/usr/bin/etcdctl', [`--endpoints=127.0.0.1:${coord}`, ...args], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      return r.stdout;
    };
    const waitFor = async (what: string, check: () => boolean): Promise<void> => {
      for (let i = 0; i < 300; i++) {
        if (check()) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.fail(`timed out waiting for ${what}`);
    };

    const server = await startUnit('flotilla-server.service', '', async () => {
      try {
        return (await fetch(`http://127.0.0.1:${http}/healthz`)).ok;
      } catch {
        return false;
      }
    });
    etcdctl('endpoint', 'health');
    const agent = await startUnit('flotilla-agent@.service', 'node-a', async () => etcdctl('get', '/monitor/heartbeat/node-a', '--keys-only').includes('node-a'));
    // The stage-3 check of docs/deploy.md: kill -9 the agent, its heartbeat lease runs out.
    await agent.kill();
    await waitFor('the heartbeat of the killed agent to expire', () => !etcdctl('get', '/monitor/heartbeat/node-a', '--keys-only').includes('node-a'));
    const exit = await server.stop();
    assert.equal(exit.code, 0, `SIGTERM (KillSignal) stops the server cleanly:\n${server.output()}`);
  });
});
