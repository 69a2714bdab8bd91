// The pgswarm dashboard: polls /api/status every second and redraws the
// topology (the coordinator's nodes and the shard groups'), the node table, the lag and routed-rate charts, connection
// counts, failover status, events and (when there are shards) each shard
// group's failover state, the shard nodes, their routed rate and the shard map.
// Plain DOM and SVG: text goes in through textContent only, never as HTML.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const COLORS = ['#2b6cb0', '#dd6b20', '#38a169', '#805ad5', '#d53f8c', '#319795', '#b7791f',
                '#4a5568'];
const POLL_MS = 1000;

// The charts' history, kept here and topped up with ?since=: the pool sends
// only the samples this page has not seen.
const state = { t: [], nodes: [], capacity: 300, intervalMs: 1000, lastOk: 0 };

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function label(node) {
  return node.title || node.cluster_name || node.name;
}

function healthClass(node) {
  if (node.healthy === true) return 'up';
  if (node.healthy === false) return 'down';
  return 'unknown';
}

function bytes(value) {
  if (value === null || value === undefined) return '-';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = value;
  let unit = 0;
  while (Math.abs(v) >= 1024 && unit < units.length - 1) {
    v /= 1024;
    unit += 1;
  }
  return (unit === 0 ? String(v) : v.toFixed(1)) + ' ' + units[unit];
}

function number(value, digits = 0) {
  if (value === null || value === undefined) return '-';
  return Number(value).toFixed(digits);
}

// The last routed-per-second sample of history.nodes[index], or null.
function lastRate(index) {
  return state.nodes[index] ? lastOf(state.nodes[index].routed_per_second) : null;
}

function lastOf(series) {
  for (let i = series.length - 1; i >= 0; i -= 1) {
    if (series[i] !== null) return series[i];
  }
  return null;
}

// ---- history ---------------------------------------------------------------

function mergeHistory(history, full) {
  state.capacity = history.capacity || state.capacity;
  state.intervalMs = history.interval_ms || state.intervalMs;
  if (full || state.nodes.length !== history.nodes.length) {
    state.t = [];
    state.nodes = history.nodes.map(() => ({
      lag_bytes: [], routed_per_second: [], queries_per_second: [],
    }));
  }
  const lastT = state.t.length ? state.t[state.t.length - 1] : -Infinity;
  history.t.forEach((t, k) => {
    if (t <= lastT) return;
    state.t.push(t);
    history.nodes.forEach((node, i) => {
      state.nodes[i].lag_bytes.push(node.lag_bytes[k]);
      state.nodes[i].routed_per_second.push(node.routed_per_second[k]);
      state.nodes[i].queries_per_second.push((node.queries_per_second || [])[k] ?? null);
    });
  });
  const excess = state.t.length - state.capacity;
  if (excess > 0) {
    state.t.splice(0, excess);
    for (const node of state.nodes) {
      node.lag_bytes.splice(0, excess);
      node.routed_per_second.splice(0, excess);
      node.queries_per_second.splice(0, excess);
    }
  }
}

// ---- topology --------------------------------------------------------------

// `nodes`: the coordinator's and the shard groups' (each shard node with
// its `group`), numbered by `index`; `follows` is an index too.
function drawTopology(nodes) {
  const root = document.getElementById('topology');
  root.replaceChildren();
  const boxW = 168;
  const boxH = 74;
  // Primaries (and nodes that follow nobody) on top, replicas below, each
  // under the node it follows.
  const top = nodes.filter((n) => n.follows === null || n.follows === undefined);
  const bottom = nodes.filter((n) => !top.includes(n))
    .sort((a, b) => (a.follows - b.follows) || (a.index - b.index));
  const widest = Math.max(top.length, bottom.length);
  const width = Math.max(root.clientWidth || 800, 320, widest * (boxW + 24));
  root.setAttribute('viewBox', `0 0 ${width} 230`);
  const defs = svg('defs');
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '9', refY: '5',
                                 markerWidth: '7', markerHeight: '7', orient: 'auto' });
  marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#7d8896' }));
  defs.append(marker);
  root.append(defs);
  const place = new Map();
  const byIndex = new Map(nodes.map((n) => [n.index, n]));
  const row = (list, y) => list.forEach((node, k) => {
    const x = (width / (list.length + 1)) * (k + 1) - boxW / 2;
    place.set(node.index, { x, y });
  });
  row(top, 12);
  row(bottom, 140);
  // WAL flows from the upstream down to each replica.
  for (const node of bottom) {
    const from = place.get(node.follows);
    const to = place.get(node.index);
    if (!from || !to || !byIndex.has(node.follows)) continue;
    const broken = node.receiver_status !== 'streaming' || node.healthy !== true;
    root.append(svg('path', {
      class: 'edge' + (broken ? ' broken' : ''),
      d: `M${from.x + boxW / 2},${from.y + boxH} L${to.x + boxW / 2},${to.y}`,
      'marker-end': 'url(#arrow)',
      'data-from': byIndex.get(node.follows).name,
      'data-to': node.name,
    }));
  }
  for (const node of nodes) {
    const at = place.get(node.index);
    const classes = ['node-box', healthClass(node)];
    if (node.fenced) classes.push('fenced');
    const group = svg('g', {
      class: 'node',
      'data-node': node.name,
      'data-role': node.role,
      'data-healthy': String(node.healthy),
      'data-fenced': String(node.fenced),
      'data-group': node.group || '',
      transform: `translate(${at.x},${at.y})`,
    });
    group.append(svg('rect', { class: classes.join(' '), width: boxW, height: boxH, rx: 6 }));
    group.append(svg('text', { x: 10, y: 18, class: 'node-title' }, label(node)));
    const role = node.role + (node.fenced ? ' (fenced)' : '') + (node.primary ? ' · writes' : '');
    group.append(svg('text', { x: 10, y: 35, class: 'node-role' }, role));
    group.append(svg('text', { x: 10, y: 51 },
                     `${node.health}${node.timeline ? ' · TL ' + node.timeline : ''}`));
    const where = node.group ? `shard group ${node.group}` : node.name;
    const detail = node.role === 'replica' ? `lag ${bytes(node.lag_bytes)}` : where;
    group.append(svg('text', { x: 10, y: 67 }, detail));
    root.append(group);
  }
}

// ---- node table ------------------------------------------------------------

function drawNodes(nodes) {
  const body = document.querySelector('#nodes tbody');
  body.replaceChildren();
  nodes.forEach((node, i) => {
    const rate = lastRate(node.index);
    const lsn = node.role === 'primary' ? node.current_lsn : node.replay_lsn;
    // A node that is down keeps its last good check's values in the JSON:
    // its receiver and replay delay are not live, so they are not shown.
    const live = node.healthy === true;
    const receiver = live && node.receiver_status
      ? node.receiver_status + (node.upstream ? ' from ' + node.upstream : '')
      : '-';
    const cells = [
      [label(node)], [node.name], [node.role], [node.health, 'health-' + node.health],
      [node.fenced ? 'yes' : 'no'], [node.timeline ?? '-', 'num'], [lsn ?? '-'],
      [bytes(node.lag_bytes), 'num'], [live ? number(node.lag_seconds, 1) : '-', 'num'], [receiver],
      [node.reads], [node.routed_total, 'num'], [number(rate, 1), 'num'],
      [node.routed_active, 'num'],
      [`${node.server_connections.active} active / ${node.server_connections.idle} idle`],
    ];
    const row = el('tr', { 'data-node': node.name });
    const swatch = el('span', {}, '■ ');
    swatch.style.color = COLORS[i % COLORS.length];  // CSSOM: allowed by the page's CSP
    cells.forEach(([text, cls], k) => {
      const cell = el('td', cls ? { class: cls } : {}, String(text));
      if (k === 0) cell.prepend(swatch);
      row.append(cell);
    });
    body.append(row);
  });
}

// ---- charts ----------------------------------------------------------------

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (value <= step * power) return step * power;
  }
  return 10 * power;
}

// One line per node; a null sample breaks the line (node down, no data).
// The series of a node are those of history.nodes[node.index].
function drawChart(id, nodes, pick, format) {
  const root = document.getElementById(id);
  root.replaceChildren();
  const W = 640;
  const H = 220;
  const left = 64;
  const right = 8;
  const topPad = 10;
  const bottomPad = 40;
  const spanMs = state.capacity * state.intervalMs;
  const end = state.t.length ? state.t[state.t.length - 1] : Date.now();
  const start = end - spanMs;
  let max = 0;
  nodes.forEach((node) => {
    for (const v of pick(state.nodes[node.index] || {}) || []) if (v !== null && v > max) max = v;
  });
  max = niceMax(max);
  const x = (t) => left + ((t - start) / spanMs) * (W - left - right);
  const y = (v) => H - bottomPad - (v / max) * (H - topPad - bottomPad);
  for (const fraction of [0, 0.5, 1]) {
    const v = max * fraction;
    root.append(svg('line', { class: 'axis', x1: left, x2: W - right, y1: y(v), y2: y(v) }));
    root.append(svg('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end' }, format(v)));
  }
  const minutes = Math.round(spanMs / 60000);
  root.append(svg('text', { x: left, y: H - bottomPad + 14 }, `-${minutes} min`));
  root.append(svg('text', { x: W - right, y: H - bottomPad + 14, 'text-anchor': 'end' }, 'now'));
  let points = 0;
  nodes.forEach((node, i) => {
    const series = pick(state.nodes[node.index] || {}) || [];
    let d = '';
    let pen = false;
    series.forEach((v, k) => {
      if (v === null || v === undefined) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${x(state.t[k]).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
      points += 1;
    });
    if (d) {
      root.append(svg('path', { class: 'series', d, stroke: COLORS[i % COLORS.length],
                                'data-node': node.name }));
    }
  });
  // Legend under the axis.
  let lx = left;
  nodes.forEach((node, i) => {
    root.append(svg('rect', { x: lx, y: H - 16, width: 10, height: 10,
                              fill: COLORS[i % COLORS.length] }));
    const text = svg('text', { x: lx + 14, y: H - 7 }, label(node));
    root.append(text);
    lx += 24 + label(node).length * 7;
  });
  root.dataset.points = String(points);
  root.dataset.last = String(end);
}

// ---- connections, failover, events, shards --------------------------------

function fillList(id, pairs) {
  const list = document.getElementById(id);
  list.replaceChildren();
  for (const [term, value] of pairs) {
    list.append(el('dt', {}, term), el('dd', {}, value === null || value === undefined ? '-' : String(value)));
  }
}

function drawConnections(pool) {
  const byState = Object.entries(pool.clients_by_state)
    .filter(([, count]) => count > 0)
    .map(([name, count]) => `${count} ${name}`)
    .join(', ');
  fillList('connections', [
    ['clients', `${pool.clients} of ${pool.max_client_conn}${byState ? ' (' + byState + ')' : ''}`],
    ['server connections', `${pool.server_connections.active} active, ` +
                           `${pool.server_connections.idle} idle`],
    ['transactions', pool.transactions_total],
    ['queries', pool.queries_total],
    ['workers', `${pool.workers_answered} of ${pool.workers} answered`],
    ['paused', pool.paused ? 'yes (PAUSE)' : 'no'],
  ]);
}

function drawFailover(failover, healthChecks) {
  if (!failover) {
    fillList('failover', [['automatic failover', healthChecks ? 'off' : 'off (health checks off)']]);
    return;
  }
  const at = failover.last_event_at ? new Date(failover.last_event_at).toLocaleString() : null;
  fillList('failover', [
    ['state', failover.state + (failover.awaiting_primary ? ' (writes wait)' : '')],
    ['primary', failover.primary],
    ['failovers', failover.failovers],
    ['switchovers', failover.switchovers],
    ['last event', failover.last_event ? `${failover.last_event} (${at})` : null],
    ['refusal', failover.refusal],
    ['synchronous mode', failover.synchronous_mode +
                         (failover.synchronous_standby_names
                           ? ` (${failover.synchronous_standby_names})` : '')],
  ]);
}

function drawEvents(events) {
  const list = document.getElementById('events');
  list.replaceChildren();
  for (const event of [...events].reverse()) {
    const item = el('li', { 'data-kind': event.kind });
    item.append(el('time', { datetime: new Date(event.at).toISOString() },
                   new Date(event.at).toLocaleString()));
    item.append(el('span', { class: 'kind kind-' + event.kind }, event.kind));
    item.append(document.createTextNode(event.message));
    list.append(item);
  }
  if (!events.length) list.append(el('li', {}, 'nothing yet'));
}

function fillTable(selector, rows) {
  const body = document.querySelector(selector + ' tbody');
  body.replaceChildren();
  for (const { attrs, cells } of rows) {
    const row = el('tr', attrs);
    for (const [text, cls] of cells) {
      row.append(el('td', cls ? { class: cls } : {},
                    text === null || text === undefined ? '-' : String(text)));
    }
    body.append(row);
  }
}

// The shard groups' nodes, flat, each with its group.
function shardNodesOf(shards) {
  return (shards || []).flatMap((group) => group.nodes.map((node) => (
    { ...node, group: group.group, title: `${group.group} ${node.name}` })));
}

// Each shard group's failover coordinator: its state, primary, counts and
// last promotion (a group of one node, or without health checks, has none).
function drawShardGroups(shards) {
  fillTable('#shard-groups', (shards || []).map((group) => {
    const f = group.failover;
    if (!f) {
      return {
        attrs: { 'data-group': group.group, 'data-state': 'off' },
        cells: [[group.group],
                [group.health_checks ? 'off (one node)' : 'off (health checks off)'],
                [group.nodes.length ? group.nodes[0].name : null], [null], [null], [null], [null],
                [null]],
      };
    }
    const at = (ms) => (ms ? new Date(ms).toLocaleString() : null);
    return {
      attrs: { 'data-group': group.group, 'data-state': f.state },
      cells: [
        [group.group], [f.state + (f.awaiting_primary ? ' (writes wait)' : ''),
         'state-' + f.state.replace(/ /g, '_')],
        [f.primary], [f.failovers, 'num'], [f.switchovers, 'num'],
        [f.last_promotion_at ? `${at(f.last_promotion_at)}: ${f.last_promotion}` : null],
        [f.last_event ? `${at(f.last_event_at)}: ${f.last_event}` : null], [f.refusal],
      ],
    };
  }));
}

// The shard groups' failover, their nodes and the shard map; the section
// stays hidden for a pool without shards.
function drawShards(shards, shardMap) {
  const section = document.getElementById('shards-section');
  const tables = shardMap ? shardMap.tables : [];
  section.hidden = (!shards || shards.length === 0) && tables.length === 0;
  if (section.hidden) return;
  drawShardGroups(shards);
  const nodes = shardNodesOf(shards);
  fillTable('#shard-nodes', nodes.map((node) => {
    const rate = lastRate(node.index);
    return {
      attrs: { 'data-node': node.name, 'data-group': node.group },
      cells: [
        [node.group], [node.name], [node.role + (node.fenced ? ' (fenced)' : '')],
        [node.health, 'health-' + node.health], [bytes(node.lag_bytes), 'num'],
        [node.routed_total, 'num'], [number(rate, 1), 'num'], [node.routed_active, 'num'],
        [`${node.server_connections.active} active / ${node.server_connections.idle} idle`],
        [node.last_error],
      ],
    };
  }));
  drawChart('shard-qps-chart', nodes, (n) => n.queries_per_second,
            (v) => number(v, v < 10 ? 1 : 0));
  drawChart('shard-lag-chart', nodes, (n) => n.lag_bytes, bytes);
  document.getElementById('shard-map-version').textContent =
    shardMap ? `(version ${shardMap.version})` : '(direct routing off)';
  fillTable('#shard-map', tables.flatMap((table) => table.partitions.map((partition) => ({
    attrs: { 'data-table': table.table, 'data-partition': partition.name,
             'data-direct': String(partition.direct) },
    cells: [
      [table.database], [table.table], [table.key], [table.strategy], [partition.name],
      [partition.bounds], [partition.node], [partition.rows_estimate, 'num'],
      partition.direct ? ['yes', 'direct-yes'] : [`no (${partition.why_not_direct})`, 'direct-no'],
    ],
  }))));
}

// ---- long operations -------------------------------------------------------

const TOOL_NAMES = { pg_basebackup: 'base backup', pg_rewind: 'rewind' };

// Each node's last base backup or rewind as its agent reports it, and the
// shard commands the coordinator's catalog records (running ones and the
// last ended): running ones with a bar, rate and ETA, ended ones with how
// they ended.
function drawOperations(nodes, shards, shardOperations) {
  const all = nodes.concat((shards || []).flatMap((group) => group.nodes));
  const runs = all.filter((node) => node.progress);
  const copies = shardOperations || [];
  const section = document.getElementById('operations-section');
  section.hidden = runs.length === 0 && copies.length === 0;
  const body = document.querySelector('#operations tbody');
  body.replaceChildren();
  for (const node of runs) {
    const p = node.progress;
    const state = !p.finished ? 'running' : (p.succeeded ? 'done' : 'failed');
    const row = el('tr', { 'data-node': node.name, 'data-state': state, 'data-tool': p.tool });
    row.append(...operationCells({
      where: node.name,
      what: `${TOOL_NAMES[p.tool] || p.tool} (${p.tool})`,
      percent: p.percent,
      done: `${bytes(p.done_kb * 1024)} of ${p.total_kb ? bytes(p.total_kb * 1024) : '?'}`,
      rate: `${bytes(p.rate_kb_per_second * 1024)}/s`,
      eta: p.eta_seconds,
      state,
      elapsed: p.elapsed_seconds,
      started: p.started_at,
    }));
    body.append(row);
  }
  for (const op of copies) {
    const row = el('tr', { 'data-shard-operation': String(op.id), 'data-state': op.state,
                           'data-verb': op.verb, 'data-phase': op.phase, 'data-table': op.table });
    const copying = op.rows_total > 0;
    row.append(...operationCells({
      where: op.partition ? `${op.source_node} → ${op.target_node}` : op.database,
      what: `shard ${op.verb} ${op.table}` + (op.partition ? ` ${op.partition}` : '') +
            ` (${op.phase})`,
      percent: copying ? op.percent : null,
      done: copying ? `${op.rows_done} of ${op.rows_total} rows (${bytes(op.bytes_done)})` : '-',
      rate: copying ? `${number(op.rate_rows_per_second, 0)} rows/s, ` +
                      `${bytes(op.rate_bytes_per_second)}/s` : '-',
      eta: op.eta_seconds,
      state: op.state,
      elapsed: op.elapsed_seconds,
      started: op.started_at,
      message: op.message,
    }));
    body.append(row);
  }
}

// One row's cells: where, what, bar, done, rate, ETA, state.
function operationCells(o) {
  const bar = el('progress', { max: '100' });
  if (o.percent !== null && o.percent !== undefined) bar.value = o.percent;
  const cells = [
    el('td', {}, o.where),
    el('td', {}, o.what),
    el('td', {}),
    el('td', { class: 'num' },
       o.done + (o.percent !== null && o.percent !== undefined ? ` (${o.percent}%)` : '')),
    el('td', { class: 'num' }, o.rate),
    el('td', { class: 'num' }, o.eta === null ? '-' : `${number(o.eta, 0)} s`),
    el('td', { class: 'state-' + o.state },
       `${o.state} ${o.state === 'running' ? 'for' : 'in'} ${number(o.elapsed, 1)} s ` +
       `(started ${new Date(o.started).toLocaleTimeString()})` +
       (o.message ? `: ${o.message}` : '')),
  ];
  cells[2].append(bar);
  return cells;
}

// ---- polling ---------------------------------------------------------------

function setFreshness(kind, text) {
  const badge = document.getElementById('freshness');
  badge.dataset.state = kind;
  badge.textContent = text;
}

function render(status) {
  const pool = status.pool;
  const shardNodes = (status.shards || []).reduce((sum, group) => sum + group.nodes.length, 0);
  document.getElementById('pool-summary').textContent =
    `${pool.version} · ${pool.mode} mode · ${status.nodes.length} nodes` +
    (shardNodes ? ` · ${shardNodes} shard nodes` : '');
  drawTopology(status.nodes.concat(shardNodesOf(status.shards)));
  drawNodes(status.nodes);
  drawChart('lag-chart', status.nodes, (n) => n.lag_bytes, bytes);
  drawChart('qps-chart', status.nodes, (n) => n.queries_per_second, (v) => number(v, v < 10 ? 1 : 0));
  drawConnections(pool);
  drawFailover(status.failover, status.health_checks);
  drawEvents(status.events);
  drawShards(status.shards, status.shard_map);
  drawOperations(status.nodes, status.shards, status.shard_operations);
  document.body.dataset.sampledAt = String(status.sampled_at);
}

async function poll() {
  const full = state.t.length === 0;
  const url = full ? '/api/status' : `/api/status?since=${state.t[state.t.length - 1]}`;
  try {
    const response = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const status = await response.json();
    mergeHistory(status.history, full);
    render(status);
    state.lastOk = Date.now();
    setFreshness('live', 'live · ' + new Date(status.sampled_at).toLocaleTimeString());
  } catch (error) {
    const age = state.lastOk ? Math.round((Date.now() - state.lastOk) / 1000) + ' s old' : 'no data';
    setFreshness(state.lastOk ? 'stale' : 'error', `pool unreachable (${error.message}); ${age}`);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
