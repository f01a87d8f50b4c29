import type { Ratios, TargetResult } from './result.js';

const fmt = (value: number | undefined, digits = 0): string =>
  value === undefined || !Number.isFinite(value)
    ? '-'
    : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

const ratio = (r: TargetResult, base: string, key: keyof Ratios) => {
  const value = r.ratios?.[`vs_${base}`]?.[key];
  return value === undefined ? (r.target === base && r.status === 'ok' ? '1.00' : '-') : value.toFixed(2);
};

function render(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The human-readable table of one scenario run; failed and skipped targets say why instead of figures. */
export function formatTable(results: TargetResult[]): string {
  const first = results[0];
  if (!first) return '';
  const title =
    `${first.scenario}: ${first.subs} subscribers, ${first.channels} channel(s), ` +
    (first.scenario === 'idle'
      ? `${first.seconds} s idle`
      : first.scenario === 'broadcast'
        ? 'one message at a time, each timed to its last subscriber'
        : `rate ${first.rate === 0 ? 'max' : `${first.rate} msg/s`}, ${first.seconds} s`) +
    `, ${first.loadProcs} load process(es)`;
  const notes: string[] = [];
  const status = (r: TargetResult) => {
    if (r.status === 'ok' && r.keptUp === false) {
      const target = Math.round((r.rate * r.subs) / r.channels);
      notes.push(
        `  ${r.target}: ok*: all delivered, but at ${r.deliveredPerSec} deliveries/s, not the ${target}/s asked for (saturated: load avg ${r.loadAvg1})`,
      );
      return 'ok*';
    }
    if (r.status === 'ok') return 'ok';
    notes.push(
      `  ${r.target}: ${r.status.toUpperCase()}: ${r.reason}${r.problems?.length ? `\n    ${r.problems.join('\n    ')}` : ''}`,
    );
    return r.status.toUpperCase();
  };
  let table: string;
  if (first.scenario === 'reconnect') {
    const header = [
      'target',
      'status',
      'published',
      'resumed p50 ms',
      'resumed max ms',
      'catch-up p50 ms',
      'catch-up p99 ms',
      'catch-up max ms',
      'all caught up ms',
      'srv CPU ms',
      'srv CPU %',
      'p99 ms (run)',
      'load avg',
    ];
    const rows = results.map((r) => {
      const x = r.reconnect;
      return [
        r.target,
        status(r),
        fmt(r.published),
        fmt(x?.resumedMs.p50, 1),
        fmt(x?.resumedMs.max, 1),
        fmt(x?.catchUpMs.p50, 1),
        fmt(x?.catchUpMs.p99, 1),
        fmt(x?.catchUpMs.max, 1),
        fmt(x?.windowMs, 0),
        fmt(x?.serverCpuMs, 0),
        fmt(x?.serverCpuPct, 0),
        r.status === 'ok' ? fmt(r.latencyMs?.p99, 2) : '-',
        fmt(r.loadAvg1, 1),
      ];
    });
    table = render(header, rows);
  } else if (first.scenario === 'broadcast') {
    const header = [
      'target',
      'status',
      'conn ms',
      'broadcasts',
      'to last p50 ms',
      'to last min ms',
      'to last max ms',
      'delivery p50 ms',
      'delivery p99 ms',
      'srv CPU ms/bcast',
      'srv RSS MB',
      'p50 vs ws',
      'load avg',
    ];
    const rows = results.map((r) => {
      const ok = r.status === 'ok';
      const b = r.broadcast;
      return [
        r.target,
        status(r),
        fmt(r.connectMs),
        fmt(b?.repeats),
        ok ? fmt(b?.lastMs.p50, 1) : '-',
        ok ? fmt(b?.lastMs.min, 1) : '-',
        ok ? fmt(b?.lastMs.max, 1) : '-',
        ok ? fmt(r.latencyMs?.p50, 1) : '-',
        ok ? fmt(r.latencyMs?.p99, 1) : '-',
        ok ? fmt(b?.serverCpuMsPerBroadcast, 1) : '-',
        fmt(r.serverRssMb, 1),
        ratio(r, 'ws', 'broadcastMs'),
        fmt(r.loadAvg1, 1),
      ];
    });
    table = render(header, rows);
  } else if (first.scenario === 'idle') {
    const header = [
      'target',
      'status',
      'conn ms',
      'srv RSS MB',
      'RSS KB/conn',
      'heap KB/conn',
      'idle CPU %',
      'RSS vs ws',
      'heap vs ws',
      'heap vs sio',
    ];
    const rows = results.map((r) => [
      r.target,
      status(r),
      fmt(r.connectMs),
      fmt(r.serverRssMb, 1),
      fmt(r.idle?.rssPerConnKb, 1),
      fmt(r.idle?.heapPerConnKb, 1),
      fmt(r.idle?.serverCpuPct, 2),
      ratio(r, 'ws', 'rssPerConnKb'),
      ratio(r, 'ws', 'heapPerConnKb'),
      ratio(r, 'socketio', 'heapPerConnKb'),
    ]);
    table = render(header, rows);
  } else {
    // A --write-delay sweep runs each Tidings target several times: the column tells the rows apart.
    const delays = results.some((r) => r.writeDelayMs !== undefined);
    const header = [
      'target',
      ...(delays ? ['delay ms'] : []),
      'status',
      'published',
      'delivered/s',
      'p50 ms',
      'p99 ms',
      'max ms',
      'srv µs/msg',
      'srv writes/msg',
      'srv CPU %',
      'srv RSS MB',
      'load CPU %',
      'thr vs ws',
      'cpu vs ws',
      'cpu vs sse',
      'thr vs sio',
      'cpu vs sio',
      'cpu vs sio-poll',
      'load avg',
    ];
    const rows = results.map((r) => {
      const ok = r.status === 'ok';
      return [
        r.target,
        ...(delays ? [fmt(r.writeDelayMs, 0)] : []),
        status(r),
        fmt(r.published),
        ok ? fmt(r.deliveredPerSec) : '-',
        ok ? fmt(r.latencyMs?.p50, 2) : '-',
        ok ? fmt(r.latencyMs?.p99, 2) : '-',
        ok ? fmt(r.latencyMs?.max, 1) : '-',
        ok ? fmt(r.serverCpuUsPerMsg, 2) : '-',
        ok ? fmt(r.serverWritesPerMsg, 3) : '-',
        ok ? fmt(r.serverCpuPct, 0) : '-',
        ok ? fmt(r.serverRssMb, 1) : '-',
        ok ? fmt(r.loadCpuPct, 0) : '-',
        ratio(r, 'ws', 'deliveredPerSec'),
        ratio(r, 'ws', 'serverCpuUsPerMsg'),
        ratio(r, 'sse', 'serverCpuUsPerMsg'),
        ratio(r, 'socketio', 'deliveredPerSec'),
        ratio(r, 'socketio', 'serverCpuUsPerMsg'),
        ratio(r, 'socketio-polling', 'serverCpuUsPerMsg'),
        fmt(r.loadAvg1, 1),
      ];
    });
    table = render(header, rows);
  }
  return [title, table, ...notes].join('\n');
}
