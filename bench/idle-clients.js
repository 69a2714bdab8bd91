// Opens N idle client connections (each runs SELECT 1 once, so a transaction
// pooler holds no server for it), prints READY, holds them until stdin ends.
// node-postgres has no select() limit, so N can exceed 1,024 (psycopg's
// anchor-idle-conns.py cannot). Usage:
//   NODE_PATH=tests/drivers/node/node_modules node bench/idle-clients.js HOST PORT DB USER PASSWORD N
const { Client } = require('pg');
const [host, port, database, user, password, n] = process.argv.slice(2);
(async () => {
  const clients = [];
  const started = Date.now();
  const batch = 100;
  for (let i = 0; i < Number(n); i += batch) {
    const opened = await Promise.all(
      Array.from({ length: Math.min(batch, Number(n) - i) }, async () => {
        const c = new Client({ host, port: Number(port), database, user, password });
        await c.connect();
        await c.query('SELECT 1');
        return c;
      }));
    clients.push(...opened);
  }
  console.log(`READY ${clients.length} ${((Date.now() - started) / 1000).toFixed(1)}`);
  process.stdin.resume();
  process.stdin.on('end', async () => {
    await Promise.all(clients.map((c) => c.end()));
    console.log('CLOSED');
  });
})().catch((e) => { console.log(`FAILED ${e.message}`); process.exit(1); });
