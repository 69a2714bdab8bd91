// The pool's dashboard in a real browser: Debian's chromium, headless,
// driven by playwright-core (never a downloaded browser). Started by
// tests/integration/dashboard_browser_test.cpp, which runs the cluster, the
// pool and the load, and stops a replica when this script asks for it:
//   DASHBOARD_URL        the pool's http://127.0.0.1:PORT/
//   DASHBOARD_NODES      JSON [{"name": "127.0.0.1:54320", "role": "primary"}, ...]
//   STOP_REQUEST_FILE    written by this script when the replica may be stopped
//   STOPPED_NODE         the name of that replica
//   SCREENSHOT_DIR       where dashboard.png and dashboard-replica-down.png go
// With SHARD_TABLE set it checks the Shards section instead (a sharded
// cluster under single-shard load; no stop), and the ended shard create of
// that table in Long operations:
//   SHARD_TABLE          "public.items": its partitions must be listed
//   SHARD_NODES          JSON ["127.0.0.1:54321", ...], the shard nodes
//   SHARD_GROUPS         JSON [{"group": "shard1", "primary": "127.0.0.1:54321",
//                        "replica": "127.0.0.1:54322"}, ...]: each group must be drawn
//                        in the topology (replica following primary) and shown
//                        with its failover state healthy and that primary
//   SCREENSHOT_DIR       where dashboard-shards.png goes
// Prints "dashboard in chromium: ok (...)" and exits 0, or says what failed.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                        '--no-first-run', '--disable-background-networking',
                        '--disable-component-update', '--disable-sync'];

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// The chart's data attributes, which the page sets on each redraw.
async function chartState(page, id) {
  return page.$eval(`#${id}`, (chart) => ({
    points: Number(chart.dataset.points || 0),
    last: Number(chart.dataset.last || 0),
    series: chart.querySelectorAll('path.series').length,
  }));
}

// The replication case: nodes, roles, arrows, moving charts, no shard
// section, then a replica stopped by the test turns unhealthy on the page.
async function checkReplication(page, screenshots) {
  const nodes = JSON.parse(need('DASHBOARD_NODES'));
  const stopRequest = need('STOP_REQUEST_FILE');
  const stoppedNode = need('STOPPED_NODE');
  // Every node drawn, with its role.
  await page.waitForFunction((count) => document.querySelectorAll('#topology g.node').length === count,
                             nodes.length, { timeout: 15000 });
  for (const node of nodes) {
    const drawn = page.locator(`#topology g.node[data-node="${node.name}"]`);
    check(await drawn.count() === 1, `node ${node.name} is not drawn`);
    await page.waitForFunction(({ name, role }) => {
      const g = document.querySelector(`#topology g.node[data-node="${name}"]`);
      return g && g.dataset.role === role && g.dataset.healthy === 'true' &&
             g.querySelector('.node-role').textContent.startsWith(role);
    }, node, { timeout: 15000 });
    check(await page.locator(`#nodes tr[data-node="${node.name}"]`).count() === 1,
          `no table row for ${node.name}`);
  }
  const edges = await page.locator('#topology path.edge').count();
  check(edges === nodes.filter((n) => n.role === 'replica').length,
        `${edges} replication arrows for ${nodes.length} nodes`);
  // Each replica's base backup, as its agent reports it, ended and full.
  for (const node of nodes.filter((n) => n.role === 'replica')) {
    const row = page.locator(`#operations tr[data-node="${node.name}"]`);
    await row.waitFor({ timeout: 15000 });
    check(await row.getAttribute('data-tool') === 'pg_basebackup' &&
          await row.getAttribute('data-state') === 'done',
          `${node.name}: ${await row.textContent()}`);
    check(await row.locator('progress').evaluate((bar) => bar.value) === 100,
          `${node.name}: the base backup's bar is not full`);
  }

  // The charts move while the load runs: more points, a later last sample,
  // and a routed rate above zero on some node.
  const lagBefore = await chartState(page, 'lag-chart');
  const qpsBefore = await chartState(page, 'qps-chart');
  await page.waitForFunction((before) => {
    const chart = document.getElementById('qps-chart');
    return Number(chart.dataset.last) >= before.last + 2000 &&
           Number(chart.dataset.points) > before.points;
  }, qpsBefore, { timeout: 15000 });
  await page.waitForFunction(() => [...document.querySelectorAll('#nodes tbody tr')]
    .some((row) => Number(row.children[12].textContent) > 0), null, { timeout: 15000 });
  const lagAfter = await chartState(page, 'lag-chart');
  const qpsAfter = await chartState(page, 'qps-chart');
  check(lagAfter.last > lagBefore.last && lagAfter.points > lagBefore.points,
        `the lag chart did not update: ${JSON.stringify([lagBefore, lagAfter])}`);
  check(lagAfter.series === nodes.filter((n) => n.role === 'replica').length,
        `lag lines: ${lagAfter.series}`);
  check(qpsAfter.series >= 1, 'no rate line');
  check(await page.isHidden('#shards-section'), 'the shard map shows without shards');
  await page.screenshot({ path: path.join(screenshots, 'dashboard.png'), fullPage: true });

  fs.writeFileSync(stopRequest, stoppedNode);
  const asked = Date.now();
  await page.waitForSelector(`#topology g.node[data-node="${stoppedNode}"][data-healthy="false"]`,
                             { timeout: 20000 });
  const seenAfter = Date.now() - asked;
  await page.waitForFunction((name) => [...document.querySelectorAll('#events li')]
    .some((item) => item.dataset.kind === 'node_down' && item.textContent.includes(name)),
                             stoppedNode, { timeout: 5000 });
  const health = await page.textContent(`#nodes tr[data-node="${stoppedNode}"] td.health-down`);
  check(health === 'down', `table health of ${stoppedNode}: ${health}`);
  await page.screenshot({ path: path.join(screenshots, 'dashboard-replica-down.png'),
                          fullPage: true });
  return `${nodes.length} nodes, ${qpsAfter.points} rate points, ` +
         `replica down on the page ${seenAfter} ms after the stop was asked`;
}

// The shard case: the section shows each shard node healthy with routed
// traffic and a rate line, and the table's partitions with direct routing.
async function checkShards(page, screenshots) {
  const table = need('SHARD_TABLE');
  const shardNodes = JSON.parse(need('SHARD_NODES'));
  await page.waitForSelector('#shards-section', { state: 'visible', timeout: 15000 });
  for (const name of shardNodes) {
    await page.waitForFunction((node) => {
      const row = document.querySelector(`#shard-nodes tr[data-node="${node}"]`);
      return row && row.querySelector('td.health-up') !== null;
    }, name, { timeout: 15000 });
  }
  // Each shard group in the topology picture, its replica's arrow from its
  // primary, and its failover coordinator healthy on that primary.
  const groups = JSON.parse(need('SHARD_GROUPS'));
  for (const { group, primary, replica } of groups) {
    await page.waitForSelector(
      `#topology g.node[data-group="${group}"][data-node="${primary}"][data-role="primary"]`,
      { timeout: 15000 });
    await page.waitForSelector(
      `#topology g.node[data-group="${group}"][data-node="${replica}"][data-role="replica"]`,
      { timeout: 15000 });
    await page.waitForSelector(
      `#topology path.edge[data-from="${primary}"][data-to="${replica}"]:not(.broken)`,
      { timeout: 15000 });
    const row = page.locator(`#shard-groups tr[data-group="${group}"]`);
    await page.waitForSelector(`#shard-groups tr[data-group="${group}"][data-state="healthy"]`,
                               { timeout: 15000 });
    const cells = await row.locator('td').allTextContents();
    check(cells[1] === 'healthy' && cells[2] === primary && cells[3] === '0',
          `${group}'s failover row: ${JSON.stringify(cells)}`);
  }
  const drawn = await page.locator('#topology g.node[data-group^="shard"]').count();
  check(drawn === shardNodes.length, `${drawn} shard nodes drawn of ${shardNodes.length}`);
  // Single-shard statements reach the shard nodes: routed totals and rates
  // above zero, drawn as lines of the shard chart.
  await page.waitForFunction(() => [...document.querySelectorAll('#shard-nodes tbody tr')]
    .some((row) => Number(row.children[5].textContent) > 0 &&
                   Number(row.children[6].textContent) > 0), null, { timeout: 20000 });
  await page.waitForFunction(() =>
    document.querySelectorAll('#shard-qps-chart path.series').length >= 1, null,
                             { timeout: 15000 });
  // One lag line per shard replica (a primary has no lag).
  await page.waitForFunction((count) =>
    document.querySelectorAll('#shard-lag-chart path.series').length === count, groups.length,
                             { timeout: 15000 });
  const partitions = await page.$$eval(`#shard-map tr[data-table="${table}"]`, (rows) =>
    rows.map((row) => ({ direct: row.dataset.direct, node: row.children[6].textContent,
                         rows: row.children[7].textContent,
                         shown: row.children[8].textContent })));
  check(partitions.length >= 2, `${table}: ${partitions.length} partitions listed`);
  // shard create analyzes every partition: each has a row estimate.
  check(partitions.every((p) => /^[0-9]+$/.test(p.rows)),
        `${table}: rows per partition ${partitions.map((p) => p.rows).join(', ')}`);
  const direct = partitions.filter((p) => p.direct === 'true');
  check(direct.length >= 1 && direct.every((p) => p.shown === 'yes'),
        `${table}: no direct partition: ${JSON.stringify(partitions)}`);
  const local = partitions.filter((p) => p.node === 'coordinator');
  check(local.every((p) => p.direct === 'false' &&
                          (p.shown === 'no (local)' || p.shown === 'no (local, by name)')),
        `${table}: a local partition shown as direct: ${JSON.stringify(partitions)}`);
  // The shard create that made the table, as the coordinator's catalog
  // recorded it: in Long operations, ended well, its bar full.
  const created = page.locator(
    `#operations tr[data-shard-operation][data-verb="create"][data-table="${table}"]`);
  await created.first().waitFor({ timeout: 15000 });
  check(await created.first().getAttribute('data-state') === 'done',
        `shard create of ${table}: ${await created.first().textContent()}`);
  check(await created.first().locator('progress').evaluate((bar) => bar.value) === 100,
        `shard create of ${table}: the bar is not full`);
  await page.screenshot({ path: path.join(screenshots, 'dashboard-shards.png'), fullPage: true });
  return `${shardNodes.length} shard nodes in ${groups.length} healthy groups, ` +
         `${partitions.length} partitions of ${table}, ${direct.length} direct`;
}

async function main() {
  const url = need('DASHBOARD_URL');
  const screenshots = need('SCREENSHOT_DIR');
  fs.mkdirSync(screenshots, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pgswarm-chromium-'));
  const problems = [];
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 1100 },
  });
  try {
    const page = await context.newPage();
    // A script error or a CSP violation shows up here.
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    const response = await page.goto(url);
    check(response && response.ok(), `GET ${url}: ${response && response.status()}`);
    const summary = process.env.SHARD_TABLE ? await checkShards(page, screenshots)
                                            : await checkReplication(page, screenshots);
    check(problems.length === 0, problems.join('\n'));
    console.log(`dashboard in chromium: ok (${summary})`);
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`dashboard in chromium: FAILED: ${error.stack || error}`);
  process.exit(1);
});
