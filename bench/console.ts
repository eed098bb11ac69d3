/**
 * The web console in a real browser: what an operator's machine pays for the admin view.
 * Starts `switchboard serve` in development mode (a temp data directory, port 0) exactly as a
 * user does, reads the admin link from its banner, opens the admin view in Debian's headless
 * Chromium (playwright-core, a fresh profile, never a download), logs in by typing the key,
 * and keeps the overview open for --duration while SDK clients publish at --rate, so every
 * live figure keeps moving.
 *
 *   npx tsx bench/console.ts [--duration 10m] [--rate 100] [--clients 20] [--sample 10s] [--out FILE]
 *
 * Options (each checked, also with --help; an unknown one is refused):
 *   --duration D   600   seconds (or 90s, 10m) the overview stays open under load (10 to 3,600)
 *   --rate R       100   publications per second over all clients (1 to 5,000)
 *   --clients N    20    SDK clients subscribed to the publishing channel (1 to 500)
 *   --sample D     10    seconds between two CPU and heap samples (1 to 600)
 *   --out FILE     bench/results/console-latest.json
 *   --help                print this and exit
 *
 * Figures (issue targets beside them): the first load of the admin view in bytes of JS and CSS
 * as gzip (each asset the page loaded, fetched again with `Accept-Encoding: gzip`; ≤ 150 KB);
 * from the login click to the first live value (`connections-count` an integer, and the
 * charts' `charts-status` saying `live`, from their first backfill on; ≤ 1.5 s); the page's
 * main-thread busy time (CDP `Performance.getMetrics` TaskDuration) and the whole browser's CPU
 * (utime + stime of every Chromium process of this run's profile, from /proc) as % of one core
 * over the window (≤ 15 % and ≤ 25 %); the JS heap after a forced GC at the start and the end
 * of the window (growth < 5 MB over 10 minutes); the charts' redraws per second (uPlot's canvas
 * clears, counted in the page: the CPU targets hold at 10 frames/s). Bounded: every wait has a deadline; the
 * server, the clients and the browser this run started are stopped at the end, on failure and
 * on SIGINT/SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type Subscription, SwitchboardClient } from '@switchboard/client';
import { mintToken } from '@switchboard/server';
import { chromium, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { ArgReader } from './lib/args.js';
import { cpuMicros } from './lib/server-process.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'packages', 'server', 'bin', 'switchboard.js');
const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';
const CHANNEL = 'project:console-bench';

interface Options {
  duration: number;
  rate: number;
  clients: number;
  sample: number;
  out: string;
}

const HELP =
  readFileSync(fileURLToPath(import.meta.url), 'utf8')
    .split('*/')[0]
    ?.replace(/^\/\*\*\n/, '')
    .replace(/^ \* ?/gm, '') ?? '';

function seconds(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (!m) throw new Error(`${flag}: expected seconds or a duration (90s, 10m), got ${text}`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : n;
}

export function parseOptions(argv: string[]): Options | 'help' {
  const o: Options = { duration: 600, rate: 100, clients: 20, sample: 10, out: join(ROOT, 'bench', 'results', 'console-latest.json') };
  const a = new ArgReader(argv);
  const range = (flag: string, v: number, min: number, max: number) => {
    if (!(v >= min && v <= max)) throw new Error(`${flag}: expected ${min} to ${max}, got ${v}`);
    return v;
  };
  for (let flag = a.next(); flag !== undefined; flag = a.next()) {
    if (flag === '--help') return 'help';
    else if (flag === '--duration') o.duration = range(flag, seconds(a.value(), flag), 10, 3600);
    else if (flag === '--rate') o.rate = range(flag, a.positive(), 1, 5000);
    else if (flag === '--clients') o.clients = range(flag, Math.floor(a.positive()), 1, 500);
    else if (flag === '--sample') o.sample = range(flag, seconds(a.value(), flag), 1, 600);
    else if (flag === '--out') o.out = a.value();
    else throw new Error(`unknown option ${flag} (see --help)`);
  }
  return o;
}

/** `switchboard serve` in development mode; resolves with the admin link of its banner. */
async function startServer(dataDir: string, secret: string): Promise<{ child: ChildProcess; origin: string; key: string }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--log-level', 'warn'], {
    env: { ...process.env, SWITCHBOARD_SECRET: secret },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const link = await new Promise<URL>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server printed no admin link in 30 s')), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /Admin console: (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(new URL(m[1] as string));
      }
    });
    child.once('exit', (code) => reject(new Error(`the server exited (${code})`)));
  });
  child.stdout?.resume();
  const key = decodeURIComponent(link.hash.replace(/^#key=/, ''));
  return { child, origin: link.origin, key };
}

/** Every process of this run's Chromium: those whose command line names the run's profile directory, and their descendants (renderers, GPU, utility). */
function browserPids(profile: string): number[] {
  const parents = new Map<number, number>();
  const roots: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(profile)) roots.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  const found = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, parent] of parents) {
      if (!found.has(pid) && found.has(parent)) {
        found.add(pid);
        grew = true;
      }
    }
  }
  return [...found];
}

/** CPU µs of the browser's processes; processes that ended keep the last figure they had. */
class BrowserCpu {
  readonly #last = new Map<number, number>();
  constructor(private readonly profile: string) {}
  total(): number {
    for (const pid of browserPids(this.profile)) {
      try {
        this.#last.set(pid, cpuMicros(pid));
      } catch {
        // ended between the listing and the read
      }
    }
    let sum = 0;
    for (const v of this.#last.values()) sum += v;
    return sum;
  }
}

async function firstValues(page: Page, clickedAt: number): Promise<{ count: number; charts: number | null }> {
  await page.getByTestId('connections-count').filter({ hasText: /^\d+$/ }).waitFor({ timeout: 30_000 });
  const count = performance.now() - clickedAt;
  // The charts say `live` from their first backfill on (docs/console.md); a page without them has no `charts-status`.
  const live = await page
    .getByTestId('charts-status')
    .filter({ hasText: /^live/ })
    .waitFor({ timeout: 30_000 })
    .then(
      () => true,
      () => false,
    );
  return { count, charts: live ? performance.now() - clickedAt : null };
}

async function gzipBytes(urls: readonly string[]): Promise<{ js: number; css: number; files: Record<string, number> }> {
  const files: Record<string, number> = {};
  let js = 0;
  let css = 0;
  for (const url of urls) {
    const res = await fetch(url, { headers: { 'accept-encoding': 'gzip' } });
    const body = Buffer.from(await res.arrayBuffer());
    // fetch decodes what it is sent: the gzip size is that of the bytes as sent, so compress again only when the server sent none.
    const encoded =
      res.headers.get('content-encoding') === 'gzip'
        ? Number(res.headers.get('content-length') ?? gzipSync(body, { level: 9 }).length)
        : gzipSync(body, { level: 9 }).length;
    files[new URL(url).pathname] = encoded;
    if (url.endsWith('.css')) css += encoded;
    else js += encoded;
  }
  return { js, css, files };
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(2)} MB`;
const pct = (n: number) => `${n.toFixed(1)} %`;

async function main(): Promise<void> {
  const parsed = parseOptions(process.argv.slice(2));
  if (parsed === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const o = parsed;
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-console-bench-'));
  const profile = mkdtempSync(join(tmpdir(), 'sb-console-chromium-'));
  const secret = randomBytes(32).toString('base64url');
  const clients: SwitchboardClient[] = [];
  const rooms: Subscription[] = [];
  let server: ChildProcess | undefined;
  let closeBrowser: (() => Promise<void>) | undefined;
  let publisher: NodeJS.Timeout | undefined;
  const cleanup = async () => {
    if (publisher) clearInterval(publisher);
    for (const c of clients) c.disconnect();
    await closeBrowser?.().catch(() => {});
    server?.kill('SIGTERM');
    rmSync(profile, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  };
  const stop = () => {
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const hardDeadline = setTimeout(
    () => {
      process.stderr.write('the run passed its deadline; stopping\n');
      stop();
    },
    (o.duration + 180) * 1000,
  );
  hardDeadline.unref();
  try {
    const started = await startServer(dataDir, secret);
    server = started.child;
    const { origin, key } = started;
    const wsUrl = `${origin.replace(/^http/, 'ws')}/ws`;
    process.stderr.write(`server at ${origin}; ${o.clients} clients, ${o.rate} publications/s for ${o.duration} s\n`);

    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      // Tall enough for the whole overview: every chart is in view and redraws.
      viewport: { width: 1280, height: 1600 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    closeBrowser = () => context.close();
    // Counts the charts' redraws: uPlot clears its canvas once per draw.
    await context.addInitScript(`{
      window.sbRedraws = 0;
      const clear = CanvasRenderingContext2D.prototype.clearRect;
      CanvasRenderingContext2D.prototype.clearRect = function (...args) {
        window.sbRedraws++;
        return clear.apply(this, args);
      };
    }`);
    const page = context.pages()[0] ?? (await context.newPage());
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    const assets: string[] = [];
    page.on('response', (r) => {
      const path = new URL(r.url()).pathname;
      if (/\.(js|css)$/.test(path) && !assets.includes(r.url())) assets.push(r.url());
    });
    await page.goto(`${origin}/console/admin`);
    await page.getByTestId('login-key').waitFor({ timeout: 30_000 });
    await page.getByTestId('login-key').fill(key);
    const clickedAt = performance.now();
    await page.getByTestId('login-submit').click();
    const first = await firstValues(page, clickedAt);
    const firstLoad = await gzipBytes(assets);

    for (let i = 0; i < o.clients; i++) {
      const sub = `bench-${i}`;
      const getToken = () =>
        mintToken(secret, { tenant: 'demo', sub, caps: { 'project:*': ['subscribe', 'publish', 'presence'] }, ttlSeconds: o.duration + 600 });
      const c = new SwitchboardClient(wsUrl, { getToken, WebSocket, transports: ['websocket'] });
      clients.push(c);
      rooms.push(c.subscribe(CHANNEL));
      c.connect();
    }
    let sent = 0;
    const perTick = o.rate / 10;
    let owed = 0;
    publisher = setInterval(() => {
      owed += perTick;
      while (owed >= 1) {
        owed -= 1;
        const c = clients[sent % clients.length] as SwitchboardClient;
        if (c.state === 'connected') (rooms[sent % rooms.length] as Subscription).publish({ n: sent, at: Date.now() }).catch(() => {});
        sent++;
      }
    }, 100);

    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const metrics = async () => {
      const { metrics: list } = await cdp.send('Performance.getMetrics');
      return Object.fromEntries(list.map((m) => [m.name, m.value])) as Record<string, number>;
    };
    const heapAfterGc = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      return (await metrics())['JSHeapUsedSize'] ?? 0;
    };
    const cpu = new BrowserCpu(profile);
    process.stderr.write(`browser processes: ${browserPids(profile).length}\n`);
    // A few seconds for the load to reach the page's figures before the window opens.
    await new Promise((r) => setTimeout(r, 5_000));
    const heapStart = await heapAfterGc();
    const redraws = () => page.evaluate(() => (window as unknown as { sbRedraws: number }).sbRedraws);
    const charts = await page.locator('[data-testid^="chart-"] canvas').count();
    const m0 = await metrics();
    const redraws0 = await redraws();
    const cpu0 = cpu.total();
    const t0 = performance.now();
    const samples: Array<{ at: number; mainThread: number; browser: number; heap: number }> = [];
    let prev = { m: m0, cpu: cpu0, t: t0 };
    while (performance.now() - t0 < o.duration * 1000) {
      await new Promise((r) => setTimeout(r, Math.min(o.sample * 1000, o.duration * 1000 - (performance.now() - t0))));
      const m = await metrics();
      const c = cpu.total();
      const t = performance.now();
      const wall = (t - prev.t) / 1000;
      const sample = {
        at: (t - t0) / 1000,
        mainThread: (100 * ((m['TaskDuration'] ?? 0) - (prev.m['TaskDuration'] ?? 0))) / wall,
        browser: (100 * (c - prev.cpu)) / 1e6 / wall,
        heap: m['JSHeapUsedSize'] ?? 0,
      };
      samples.push(sample);
      process.stderr.write(`${sample.at.toFixed(0)} s: main thread ${pct(sample.mainThread)}, browser ${pct(sample.browser)}, heap ${mb(sample.heap)}\n`);
      prev = { m, cpu: c, t };
    }
    const t1 = performance.now();
    const m1 = await metrics();
    const cpu1 = cpu.total();
    const fps = charts > 0 ? ((await redraws()) - redraws0) / charts / ((performance.now() - t0) / 1000) : 0;
    const heapEnd = await heapAfterGc();
    const window = (t1 - t0) / 1000;
    const mainThread = (100 * ((m1['TaskDuration'] ?? 0) - (m0['TaskDuration'] ?? 0))) / window;
    const browser = (100 * (cpu1 - cpu0)) / 1e6 / window;
    const result = {
      at: new Date().toISOString(),
      options: o,
      firstLoad,
      firstLiveValueMs: { connectionsCount: first.count, charts: first.charts },
      window: { seconds: window, publicationsSent: sent, mainThreadPercent: mainThread, browserPercent: browser, charts, redrawsPerChartPerSecond: fps },
      heap: { start: heapStart, end: heapEnd, growth: heapEnd - heapStart },
      samples,
      problems,
    };
    mkdirSync(dirname(o.out), { recursive: true });
    writeFileSync(o.out, `${JSON.stringify(result, null, 2)}\n`);
    const growthPer10m = ((heapEnd - heapStart) * 600) / window;
    const rows: Array<[string, string, string]> = [
      ['first load, JS + CSS gzip', kb(firstLoad.js + firstLoad.css), '≤ 150 KB'],
      ['login → connection count', `${first.count.toFixed(0)} ms`, '≤ 1,500 ms'],
      ['login → the charts live (their first values drawn)', first.charts === null ? 'no charts on the page' : `${first.charts.toFixed(0)} ms`, '≤ 1,500 ms'],
      [`chart redraws per second (each of ${charts} charts)`, fps.toFixed(1), '10 frames/s (the condition of the two CPU targets)'],
      ['main thread busy (TaskDuration)', pct(mainThread), '≤ 15 % of one core'],
      ['whole browser CPU', pct(browser), '≤ 25 % of one core'],
      [
        `JS heap after GC, start → end (${(window / 60).toFixed(1)} min)`,
        `${mb(heapStart)} → ${mb(heapEnd)} (${mb(heapEnd - heapStart)}; ${mb(growthPer10m)} per 10 min)`,
        '< 5 MB per 10 min',
      ],
      ['console errors and page errors', String(problems.length), '0'],
    ];
    const width = Math.max(...rows.map((r) => r[0].length));
    process.stdout.write(`The admin view's overview under ${o.rate} publications/s (${o.clients} clients), ${window.toFixed(0)} s\n`);
    for (const [what, value, target] of rows) process.stdout.write(`  ${what.padEnd(width)}  ${value.padEnd(40)}  target ${target}\n`);
    for (const p of problems) process.stdout.write(`  ${p}\n`);
    process.stdout.write(`wrote ${o.out}\n`);
  } finally {
    clearTimeout(hardDeadline);
    await cleanup();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
