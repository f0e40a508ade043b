// `vmtrace inspect --html`: one self-contained HTML file (inline CSS, inline JS, inline data, no
// external resources) with the summary, an exit timeline, bar charts per reason and per port /
// MMIO address, the console text and the first exits as a table (with their register changes
// and, given a replay's disassembly, their instructions). Built from one streaming pass: the
// timeline is a fixed-size histogram and only the first exits are kept in detail.
import { writeFileSync } from 'node:fs';

import { registerLayout, type RegisterLayout } from '../arch/index.js';
import type { Regs, Sregs } from '../cpu-state.js';
import type { TraceHeader, TraceRecord } from '../trace/format.js';
import type { CollectedDisassembly, DisasmStop } from './disasm-exits.js';
import { exitRow, formatChanges } from './exits.js';
import { StatsAccumulator, TimeHistogram } from './stats.js';
import { ConsoleCollector, traceInfo, type Summary, type TraceEnd, type TraceSink } from './summary.js';
import { bytesAscii, bytesHex, hx, pcName, pcOf } from './util.js';

/** Detail rows kept for the exit strip and table. */
export const HTML_DETAIL_RECORDS = 2000;
const HTML_CONSOLE_BYTES = 256 << 10;

/**
 * [index, timeNs, runNs, reason, where, dir, dataHex, ascii, pc (rip), changes (`rax 0x41→0x42 …`),
 * instruction [at, bytesHex, text] (null: not disassembled)]
 */
type DetailRow = [number, number, number, string, string, string, string, string, string, string, [string, string, string] | null];

export interface HtmlReportOptions {
  /** The detail records' instructions (collectDisassembly): adds the instruction columns. */
  disasm?: CollectedDisassembly;
}

export interface HtmlModel {
  summary: Summary;
  histogram: { startNs: number; widthNs: number; series: string[]; counts: number[][] };
  detail: DetailRow[];
  /** Whether the exit table has instruction columns, and where disassembly stopped within it. */
  disasm: { shown: boolean; stop: DisasmStop | null };
  console: { text: string; bytes: number; truncated: boolean };
  generatedAt: string;
}

export class HtmlReportSink implements TraceSink {
  private readonly stats = new StatsAccumulator();
  private readonly cons = new ConsoleCollector(HTML_CONSOLE_BYTES);
  private hist: TimeHistogram | undefined;
  private startNs = 0;
  private readonly detail: DetailRow[] = [];
  private header_: TraceHeader | undefined;
  private file: string;
  private readonly disasm: CollectedDisassembly | undefined;
  /** The previous record's state, for the detail rows' register changes. */
  private prevRegs: Regs | undefined;
  private prevSregs: Sregs | undefined;
  private layout: RegisterLayout = registerLayout('x86_64');
  /** The finished model (after end()). */
  model: HtmlModel | undefined;

  constructor(
    readonly path: string,
    file: string,
    opts: HtmlReportOptions = {},
  ) {
    this.file = file;
    this.disasm = opts.disasm;
  }

  header(h: TraceHeader): void {
    this.header_ = h;
    this.layout = registerLayout(h.arch);
    this.cons.header(h);
    this.prevRegs = h.boot.regs;
    this.prevSregs = h.boot.sregs;
  }

  record(r: TraceRecord, index: number): void {
    this.stats.add(r);
    this.cons.record(r);
    if (this.hist === undefined) {
      this.hist = new TimeHistogram(400, 250);
      this.startNs = r.timeNs;
    }
    this.hist.add(r.timeNs - this.startNs, r.reason);
    if (this.detail.length < HTML_DETAIL_RECORDS) {
      let where = '';
      let dir = '';
      let data = '';
      let ascii = '';
      if (r.io) {
        where = hx(r.io.port);
        dir = r.io.direction;
        data = bytesHex(r.io.data, 16);
        ascii = bytesAscii(r.io.data, 16);
      } else if (r.mmio) {
        where = hx(r.mmio.address);
        dir = r.mmio.write ? 'write' : 'read';
        data = bytesHex(r.mmio.data, 16);
        ascii = bytesAscii(r.mmio.data, 16);
      }
      const reason = r.kind === 'step' && r.reasonName === 'DEBUG' ? 'step' : r.reasonName;
      const changes = formatChanges(exitRow(r, index, this.prevRegs!, this.prevSregs!, { changes: true, layout: this.layout }).changes!);
      this.prevRegs = r.regs;
      this.prevSregs = r.sregs;
      const insn = this.disasm?.at(index, r.kind);
      this.detail.push([index, r.timeNs, r.runNs, reason, where, dir, data, ascii, hx(pcOf(r, this.layout)), changes, insn ? [insn.at, insn.bytes, insn.text] : null]);
    }
  }

  end(end: TraceEnd): void {
    const h = this.header_!;
    const hist = this.hist;
    let counts = hist?.counts ?? [];
    // Drop the empty tail of the histogram.
    let used = 0;
    for (const c of counts) for (let i = c.length - 1; i >= used; i--) if (c[i]) used = i + 1;
    counts = counts.map((c) => c.slice(0, Math.max(used, 1)));
    this.model = {
      summary: {
        trace: traceInfo(this.file, h),
        end,
        stats: this.stats.result(),
        console: { ports: this.cons.portList.map((p) => hx(p)), bytes: this.cons.bytes },
      },
      histogram: { startNs: this.startNs, widthNs: hist?.widthNs ?? 1, series: hist?.series ?? [], counts },
      detail: this.detail,
      disasm: { shown: this.disasm !== undefined, stop: this.disasmStop() },
      console: { text: Buffer.from(this.cons.data()).toString('utf8'), bytes: this.cons.bytes, truncated: this.cons.overflow },
      generatedAt: new Date().toISOString(),
    };
    writeFileSync(this.path, renderHtml(this.model));
  }

  /** Where disassembly stopped, when that leaves detail rows without it. */
  private disasmStop(): DisasmStop | null {
    const stop = this.disasm?.stop;
    return stop && stop.index < this.detail.length ? stop : null;
  }
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON that is safe inside a <script> element. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

export function renderHtml(m: HtmlModel): string {
  const t = m.summary.trace;
  const pc = pcName(registerLayout(t.arch));
  const title = `vmtrace: ${t.guest.name} (${t.file.split('/').pop()})`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
  <h1>${esc(t.guest.name)} <span class="sub">vmtrace report</span></h1>
  <div id="status"></div>
</header>
<main>
<noscript><p class="error">This report draws its charts with JavaScript; enable it to see them.</p></noscript>
<section id="cards" class="cards"></section>
<section>
  <h2>Exit timeline</h2>
  <p class="hint" id="timeline-hint"></p>
  <div class="legend" id="legend"></div>
  <canvas id="histogram" height="180"></canvas>
  <h3 id="strip-title">Exits in detail</h3>
  <canvas id="strip" height="120"></canvas>
  <div id="tooltip" class="tooltip" hidden></div>
</section>
<section class="two">
  <div><h2>Exits by reason</h2><div id="reasons" class="bars"></div></div>
  <div><h2>IO ports and MMIO addresses</h2><div id="ports" class="bars"></div></div>
</section>
<section>
  <h2>Exit statistics <span class="sub">host time in KVM_RUN, entry to exit</span></h2>
  <div id="stats-tables"></div>
</section>
<section>
  <h2>Console <span class="sub" id="console-info"></span></h2>
  <pre id="console" class="console"></pre>
</section>
<section>
  <h2>Exits <span class="sub" id="exits-info"></span></h2>
  <div class="scroll"><table id="exits" class="exits"><thead><tr><th class="n">#</th><th class="n">time ms</th><th class="n">KVM_RUN µs</th><th>reason</th><th>port/addr</th><th>dir</th><th>data</th><th>ascii</th><th>${pc}</th>${m.disasm.shown ? '<th>insn at</th><th>bytes</th><th>instruction</th>' : ''}<th>changed</th></tr></thead><tbody></tbody></table></div>
</section>
</main>
<footer id="footer"></footer>
<script type="application/json" id="vmtrace-data">${scriptJson(m)}</script>
<script>${JS}</script>
</body>
</html>
`;
}

const CSS = `
:root { --fg:#1d2330; --muted:#667085; --line:#e4e7ec; --bg:#f6f7f9; --card:#fff; --accent:#2f6fdf; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif; color:var(--fg); background:var(--bg); }
header { display:flex; align-items:center; justify-content:space-between; gap:16px; padding:18px 28px; background:#16213a; color:#fff; }
header h1 { margin:0; font-size:22px; font-weight:600; }
header .sub { color:#9fb0d0; font-weight:400; font-size:14px; margin-left:8px; }
main { padding:20px 28px 8px; max-width:1400px; margin:0 auto; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:16px 20px; margin-bottom:18px; }
section.two { display:grid; grid-template-columns:1fr 1fr; gap:28px; }
section.cards { display:grid; grid-template-columns:repeat(auto-fill,minmax(230px,1fr)); gap:12px; background:none; border:none; padding:0; }
h2 { font-size:16px; margin:0 0 10px; }
h3 { font-size:13px; margin:14px 0 6px; color:var(--muted); font-weight:600; }
.sub { color:var(--muted); font-weight:400; font-size:12px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 14px; min-width:0; }
.card .k { color:var(--muted); font-size:11px; text-transform:uppercase; letter-spacing:.05em; }
.card .v { font-size:18px; font-weight:600; margin-top:2px; overflow-wrap:anywhere; }
.card .d { color:var(--muted); font-size:12px; margin-top:2px; overflow-wrap:anywhere; }
.badge { display:inline-block; padding:4px 12px; border-radius:999px; font-weight:600; font-size:13px; }
.badge.ok { background:#d1fadf; color:#05603a; } .badge.bad { background:#fee4e2; color:#912018; } .badge.warn { background:#fef0c7; color:#93370d; }
canvas { width:100%; display:block; border:1px solid var(--line); border-radius:6px; background:#fcfcfd; }
.legend { display:flex; flex-wrap:wrap; gap:14px; margin:4px 0 8px; font-size:12px; }
.legend span::before { content:""; display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:5px; background:var(--c); vertical-align:-1px; }
.hint { color:var(--muted); font-size:12px; margin:0 0 6px; }
.bars .row { display:grid; grid-template-columns:150px 1fr 150px; align-items:center; gap:10px; margin:5px 0; font-size:13px; }
.bars .label { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace; white-space:nowrap; overflow:hidden; text-overflow:ellipsis; }
.bars .bar { height:16px; border-radius:3px; background:var(--c,var(--accent)); min-width:2px; }
.bars .num { color:var(--muted); font-variant-numeric:tabular-nums; white-space:nowrap; }
table { border-collapse:collapse; width:100%; font-size:12.5px; }
th, td { text-align:left; padding:4px 10px; border-bottom:1px solid var(--line); white-space:nowrap; }
th { color:var(--muted); font-weight:600; background:#fafbfc; position:sticky; top:0; }
td.n, th.n { text-align:right; font-variant-numeric:tabular-nums; }
td.m { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace; }
.stats table { margin-bottom:14px; }
.scroll { max-height:480px; overflow:auto; border:1px solid var(--line); border-radius:6px; }
.console { background:#0f1524; color:#d7e3ff; padding:12px 14px; border-radius:6px; max-height:360px; overflow:auto; margin:0; white-space:pre-wrap; font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace; }
.tooltip { position:fixed; pointer-events:none; background:#111827; color:#fff; font:12px/1.4 ui-monospace,Menlo,Consolas,monospace; padding:6px 9px; border-radius:6px; white-space:pre; z-index:10; }
.error { background:#fee4e2; color:#912018; padding:10px 14px; border-radius:8px; }
footer { color:var(--muted); font-size:12px; padding:0 28px 24px; max-width:1400px; margin:0 auto; }
@media (max-width: 900px) { section.two { grid-template-columns:1fr; } }
`;

// Inline script: plain ES2017, no modules, no network. It marks <body data-ok="1"> and adds
// #render-ok when everything is drawn; window.onerror marks data-error and shows the message.
const JS = String.raw`
(function () {
  'use strict';
  function fail(msg) {
    document.body.setAttribute('data-error', String(msg));
    var p = document.createElement('p'); p.className = 'error'; p.textContent = 'Report error: ' + msg;
    document.querySelector('main').prepend(p);
  }
  window.addEventListener('error', function (e) { fail(e.message || e); });
  var M = JSON.parse(document.getElementById('vmtrace-data').textContent);
  var S = M.summary, st = S.stats, tr = S.trace, end = S.end;
  var COLORS = { IO: '#2f6fdf', HLT: '#d92d20', MMIO: '#f79009', DEBUG: '#7a5af8', step: '#7a5af8', SHUTDOWN: '#b42318',
    INTERNAL_ERROR: '#b42318', FAIL_ENTRY: '#b42318', EXCEPTION: '#e31b54', HYPERCALL: '#039855', other: '#98a2b3' };
  var EXTRA = ['#0e9384', '#c11574', '#6172f3', '#ca8504', '#475467'];
  function color(name) {
    if (!COLORS[name]) COLORS[name] = EXTRA[Object.keys(COLORS).length % EXTRA.length];
    return COLORS[name];
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmtNs(ns) {
    if (ns < 1e3) return Math.round(ns) + ' ns';
    if (ns < 1e6) return (ns / 1e3).toFixed(ns < 1e4 ? 2 : 1) + ' µs';
    if (ns < 1e9) return (ns / 1e6).toFixed(ns < 1e7 ? 2 : 1) + ' ms';
    return (ns / 1e9).toFixed(2) + ' s';
  }
  function n(x) { return x.toLocaleString('en-US'); }
  function us(ns) { return (ns / 1000).toFixed(3); }

  // Status badge and cards.
  var status = document.getElementById('status');
  var badge = el('span', { 'class': 'badge ' + (end.complete ? (end.endReason === 'hlt' || end.endReason === 'guest-exit' ? 'ok' : 'warn') : 'bad') },
    end.complete ? 'complete · ' + end.endReason : 'TRUNCATED');
  badge.id = 'status-badge';
  status.appendChild(badge);
  var cards = document.getElementById('cards');
  function card(k, v, d) {
    var c = el('div', { 'class': 'card' });
    c.appendChild(el('div', { 'class': 'k' }, k)); c.appendChild(el('div', { 'class': 'v' }, v));
    if (d) c.appendChild(el('div', { 'class': 'd' }, d));
    cards.appendChild(c);
  }
  var span = st.firstTimeNs === null ? 0 : st.lastTimeNs - st.firstTimeNs;
  card(tr.mode.singleStep ? 'Records' : 'Exits', n(st.records), st.steps ? n(st.exits) + ' exits, ' + n(st.steps) + ' steps' : 'one record per vCPU exit');
  card('Ended', end.complete ? end.endReason : 'truncated', end.complete ? end.message : 'no footer: the recording did not finish' + (end.truncatedAt !== null ? ' (cut at byte ' + end.truncatedAt + ')' : ''));
  card('Guest time span', fmtNs(span), fmtNs(st.run.totalNs) + ' in KVM_RUN');
  card('Guest image', tr.guest.name, tr.guest.imageBytes + ' bytes at ' + tr.guest.loadAddress + ' · sha256 ' + tr.guest.sha256.slice(0, 16) + '…');
  card('Memory & mode', tr.memory.map(function (m) { return (m.size >= 1048576 ? (m.size / 1048576) + ' MiB' : (m.size / 1024) + ' KiB'); }).join(', '),
    (tr.arch === 'aarch64' ? 'aarch64 ' + tr.mode.boot : tr.mode.boot + ' mode') + ' · ' + (tr.mode.singleStep ? 'single-step' : 'exits only'));
  card('Host', tr.host.kvmModule + ' · ' + tr.host.cpuVendor, 'Linux ' + tr.host.kernel + ' · ' + tr.host.cpuModel);
  card('Recorded', tr.createdAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'), tr.tool.name + ' ' + tr.tool.version + ' · format ' + tr.format);
  card('Console', n(S.console.bytes) + ' bytes', 'port ' + S.console.ports.join(', '));

  // Legend.
  var legend = document.getElementById('legend');
  M.histogram.series.forEach(function (s) { var e = el('span', null, s); e.style.setProperty('--c', color(s)); legend.appendChild(e); });

  function setupCanvas(c) {
    var ratio = window.devicePixelRatio || 1;
    var w = c.clientWidth || 1000, h = c.height;
    c.style.height = h + 'px';
    c.width = Math.round(w * ratio); c.height = Math.round(h * ratio);
    var ctx = c.getContext('2d'); ctx.scale(ratio, ratio);
    return { ctx: ctx, w: w, h: h };
  }
  function axis(ctx, x0, x1, y, t0, t1) {
    ctx.strokeStyle = '#d0d5dd'; ctx.beginPath(); ctx.moveTo(x0, y + 0.5); ctx.lineTo(x1, y + 0.5); ctx.stroke();
    ctx.fillStyle = '#667085'; ctx.font = '11px system-ui, sans-serif'; ctx.textAlign = 'center';
    for (var i = 0; i <= 6; i++) {
      var x = x0 + (x1 - x0) * i / 6, t = t0 + (t1 - t0) * i / 6;
      ctx.fillRect(x, y, 1, 4);
      ctx.fillText(fmtNs(t), Math.min(Math.max(x, x0 + 20), x1 - 24), y + 16);
    }
  }

  // Histogram: exits per bucket, stacked by reason.
  var H = M.histogram, nb = H.counts.length ? H.counts[0].length : 0;
  var hint = document.getElementById('timeline-hint');
  hint.textContent = 'Exits per ' + fmtNs(H.widthNs) + ' of time since the recording started (first exit at ' + fmtNs(H.startNs) +
    '). Hover for counts.';
  var hc = setupCanvas(document.getElementById('histogram'));
  var PAD_L = 46, PAD_R = 12, PAD_T = 10, PAD_B = 26;
  var totals = []; var maxTotal = 1;
  for (var b = 0; b < nb; b++) { var s = 0; for (var k = 0; k < H.counts.length; k++) s += H.counts[k][b]; totals.push(s); if (s > maxTotal) maxTotal = s; }
  // Y axis: a 1-2-5 step giving at most 5 gridlines, the top at a multiple of it.
  var tickStep = 1;
  while (maxTotal / tickStep > 4) tickStep = [1, 2, 5].map(function (m) { return m * Math.pow(10, Math.floor(Math.log10(tickStep))); })
    .concat([10 * Math.pow(10, Math.floor(Math.log10(tickStep)))]).filter(function (v) { return v > tickStep; })[0];
  var topTick = Math.ceil(maxTotal / tickStep) * tickStep;
  (function drawHistogram() {
    var ctx = hc.ctx, plotW = hc.w - PAD_L - PAD_R, plotH = hc.h - PAD_T - PAD_B;
    ctx.fillStyle = '#667085'; ctx.font = '11px system-ui, sans-serif'; ctx.textAlign = 'right';
    for (var g = 0; g <= topTick; g += tickStep) {
      var gy = PAD_T + plotH - plotH * g / topTick;
      ctx.fillStyle = '#eef0f3'; ctx.fillRect(PAD_L, Math.round(gy), plotW, 1);
      ctx.fillStyle = '#667085'; ctx.fillText(n(g), PAD_L - 6, gy + 4);
    }
    var bw = plotW / Math.max(nb, 1);
    for (var b = 0; b < nb; b++) {
      var y = PAD_T + plotH;
      for (var k = 0; k < H.counts.length; k++) {
        var c = H.counts[k][b]; if (!c) continue;
        var hgt = plotH * c / topTick;
        ctx.fillStyle = color(H.series[k]);
        ctx.fillRect(PAD_L + b * bw, y - hgt, Math.max(bw - (bw > 3 ? 1 : 0), 1), hgt);
        y -= hgt;
      }
    }
    axis(ctx, PAD_L, PAD_L + plotW, PAD_T + plotH, H.startNs, H.startNs + nb * H.widthNs);
  })();

  // Exit strip: the first exits in detail, one lane per reason, each exit spanning its KVM_RUN time.
  var D = M.detail;
  var lanes = []; D.forEach(function (r) { if (lanes.indexOf(r[3]) < 0) lanes.push(r[3]); });
  var stripCanvas = document.getElementById('strip');
  stripCanvas.height = Math.max(60, 22 * lanes.length + 40);
  var sc = setupCanvas(stripCanvas);
  document.getElementById('strip-title').textContent = D.length < st.records
    ? 'The first ' + n(D.length) + ' of ' + n(st.records) + ' records in detail (bars span the time in KVM_RUN)'
    : 'Every record in detail (bars span the time in KVM_RUN, entry to exit)';
  var t0 = D.length ? Math.min.apply(null, D.slice(0, 50).map(function (r) { return r[1] - r[2]; })) : 0;
  var t1 = D.length ? D[D.length - 1][1] : 1;
  if (t1 <= t0) t1 = t0 + 1;
  var SL = 86, SR = 12;
  var hits = [];
  (function drawStrip() {
    var ctx = sc.ctx, plotW = sc.w - SL - SR;
    ctx.font = '11px ui-monospace, monospace'; ctx.textAlign = 'right';
    lanes.forEach(function (name, i) {
      ctx.fillStyle = '#344054'; ctx.fillText(name, SL - 8, 18 + i * 22 + 4);
      ctx.fillStyle = '#f2f4f7'; ctx.fillRect(SL, 8 + i * 22, plotW, 18);
    });
    D.forEach(function (r) {
      var lane = lanes.indexOf(r[3]);
      var x0 = SL + plotW * (r[1] - r[2] - t0) / (t1 - t0), x1 = SL + plotW * (r[1] - t0) / (t1 - t0);
      var w = Math.max(x1 - x0, 1.5);
      ctx.fillStyle = color(r[3]);
      ctx.fillRect(x0, 8 + lane * 22, w, 18);
      hits.push([x0 - 1, x0 + w + 1, 8 + lane * 22, r]);
    });
    axis(ctx, SL, SL + plotW, 8 + lanes.length * 22 + 6, t0, t1);
  })();

  var tip = document.getElementById('tooltip');
  function showTip(ev, text) { tip.textContent = text; tip.hidden = false; tip.style.left = (ev.clientX + 14) + 'px'; tip.style.top = (ev.clientY + 12) + 'px'; }
  document.getElementById('strip').addEventListener('mousemove', function (ev) {
    var rect = ev.target.getBoundingClientRect(), x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    for (var i = hits.length - 1; i >= 0; i--) {
      var h = hits[i];
      if (x >= h[0] && x <= h[1] && y >= h[2] && y <= h[2] + 18) {
        var r = h[3];
        showTip(ev, '#' + r[0] + '  ' + r[3] + (r[4] ? ' ' + r[5] + ' ' + r[4] : '') + (r[6] ? '  data ' + r[6] + ' "' + r[7] + '"' : '') +
          '\nat ' + fmtNs(r[1]) + ', ' + us(r[2]) + ' µs in KVM_RUN\n' + (tr.arch === 'aarch64' ? 'pc ' : 'rip ') + r[8] + (r[10] ? '\n' + r[10][0] + '  ' + r[10][2] : '') +
          (r[9] ? '\n' + r[9] : ''));
        return;
      }
    }
    tip.hidden = true;
  });
  document.getElementById('histogram').addEventListener('mousemove', function (ev) {
    var rect = ev.target.getBoundingClientRect(), x = ev.clientX - rect.left;
    var b = Math.floor((x - PAD_L) / ((hc.w - PAD_L - PAD_R) / Math.max(nb, 1)));
    if (b < 0 || b >= nb) { tip.hidden = true; return; }
    var lines = [fmtNs(H.startNs + b * H.widthNs) + ' – ' + fmtNs(H.startNs + (b + 1) * H.widthNs) + ': ' + n(totals[b]) + ' exits'];
    H.series.forEach(function (s, k) { if (H.counts[k][b]) lines.push('  ' + s + ' ' + n(H.counts[k][b])); });
    showTip(ev, lines.join('\n'));
  });
  ['strip', 'histogram'].forEach(function (id) { document.getElementById(id).addEventListener('mouseleave', function () { tip.hidden = true; }); });

  // Bar charts.
  function bars(container, rows, colorOf) {
    var box = document.getElementById(container);
    if (!rows.length) { box.appendChild(el('p', { 'class': 'hint' }, 'none')); return; }
    var max = Math.max.apply(null, rows.map(function (r) { return r.count; }));
    rows.forEach(function (r) {
      var row = el('div', { 'class': 'row', 'data-key': r.key });
      row.appendChild(el('div', { 'class': 'label', title: r.key }, r.key));
      var wrap = el('div'); var bar = el('div', { 'class': 'bar' });
      bar.style.width = (100 * r.count / max).toFixed(2) + '%'; bar.style.setProperty('--c', colorOf(r));
      bar.title = r.key + ': ' + n(r.count) + ' (' + r.percent.toFixed(2) + '%), avg ' + us(r.run.avgNs) + ' µs in KVM_RUN';
      wrap.appendChild(bar); row.appendChild(wrap);
      row.appendChild(el('div', { 'class': 'num' }, n(r.count) + ' · ' + r.percent.toFixed(1) + '%'));
      box.appendChild(row);
    });
  }
  bars('reasons', st.byReason, function (r) { return color(r.reason); });
  bars('ports', st.byPort.map(function (r) { return Object.assign({ kind: 'IO' }, r); }).concat(st.byMmio.map(function (r) { return Object.assign({ kind: 'MMIO' }, r); }))
    .sort(function (a, b) { return b.count - a.count; }), function (r) { return color(r.kind); });

  // Statistics tables.
  function statTable(title, keyName, rows, withBytes) {
    var box = document.getElementById('stats-tables');
    box.className = 'stats';
    box.appendChild(el('h3', null, title));
    if (!rows.length) { box.appendChild(el('p', { 'class': 'hint' }, 'none')); return; }
    var t = el('table'), head = el('tr');
    [keyName, 'Samples', 'Samples %', 'Time %', 'Min µs', 'Avg µs', 'Max µs'].concat(withBytes ? ['Bytes'] : []).forEach(function (h, i) {
      head.appendChild(el('th', i ? { 'class': 'n' } : null, h));
    });
    t.appendChild(head);
    rows.forEach(function (r) {
      var tr_ = el('tr');
      tr_.appendChild(el('td', { 'class': 'm' }, r.key));
      [n(r.count), r.percent.toFixed(2), r.timePercent.toFixed(2), us(r.run.minNs), us(r.run.avgNs), us(r.run.maxNs)]
        .concat(withBytes ? [n(r.bytes)] : []).forEach(function (v) { tr_.appendChild(el('td', { 'class': 'n' }, v)); });
      t.appendChild(tr_);
    });
    box.appendChild(t);
  }
  statTable('By exit reason', 'Reason', st.byReason, false);
  statTable('By IO port', 'Port:dir', st.byPort, true);
  statTable('By MMIO address', 'Address:dir', st.byMmio, true);

  // Console.
  document.getElementById('console').textContent = M.console.text || '(the guest wrote nothing to its console)';
  document.getElementById('console-info').textContent = n(M.console.bytes) + ' bytes on port ' + S.console.ports.join(', ') +
    (M.console.truncated ? ' — only the first ' + n(M.console.text.length) + ' characters are shown' : '');

  // Exit table (at most 500 rows).
  var tbody = document.querySelector('#exits tbody');
  var rowsShown = Math.min(D.length, 500);
  var frag = document.createDocumentFragment();
  for (var i = 0; i < rowsShown; i++) {
    var r = D[i], tr2 = el('tr');
    var cells = [[String(r[0]), 'n'], [(r[1] / 1e6).toFixed(6), 'n'], [us(r[2]), 'n'], [r[3], ''], [r[4], 'm'], [r[5], ''], [r[6], 'm'], [r[7] ? '"' + r[7] + '"' : '', 'm'], [r[8], 'm']];
    if (M.disasm.shown) cells.push([r[10] ? r[10][0] : '', 'm'], [r[10] ? r[10][1] : '', 'm'], [r[10] ? r[10][2] : '', 'm']);
    cells.push([r[9], 'm']);
    cells.forEach(function (c) { tr2.appendChild(el('td', c[1] ? { 'class': c[1] } : null, c[0])); });
    frag.appendChild(tr2);
  }
  tbody.appendChild(frag);
  document.getElementById('exits-info').textContent = (rowsShown < st.records
    ? 'the first ' + n(rowsShown) + ' of ' + n(st.records) + ' (vmtrace inspect --exits shows them all)' : n(st.records) + ' records') +
    (M.disasm.stop ? ' · no disassembly from record #' + M.disasm.stop.index + ' on: ' + M.disasm.stop.why : '');

  document.getElementById('footer').textContent = 'Generated ' + M.generatedAt + ' by vmtrace inspect --html from ' + tr.file + '. Self-contained: no external resources.';

  var ok = el('div', { id: 'render-ok', hidden: '' }, 'rendered ' + st.records + ' records');
  document.body.appendChild(ok);
  document.body.setAttribute('data-ok', '1');
})();
`;
