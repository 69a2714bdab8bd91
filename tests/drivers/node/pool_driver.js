// node-postgres (`pg`, pure JavaScript: its own wire protocol code, no libpq)
// through the pgswarm pool in transaction mode, with more clients than
// server connections: SCRAM login, simple, multi-statement and
// parameterized queries, named prepared statements from many clients at
// once, and failed transactions rolled back. Run by
// tests/integration/driver_node_test.cpp; exits non-zero at the first wrong
// answer. Connection settings come from PGHOST, PGPORT, PGUSER, PGPASSWORD.
'use strict';

const assert = require('node:assert/strict');
const { Client } = require('pg');

const clients = Number(process.env.DRIVER_CLIENTS || 12);
const maxBackends = Number(process.env.DRIVER_MAX_BACKENDS || 3);
const rounds = 15;

// A name per client: transaction mode applies each client's startup
// parameters on whichever server it gets, so differing names must still
// share the few backends checked in main().
async function connect(index) {
  const client = new Client({ database: 'postgres', application_name: `pgswarm-driver-${index}` });
  let scram = false;
  client.connection.once('authenticationSASL', () => { scram = true; });
  await client.connect();
  assert.ok(scram, `client ${index} did not log in with SASL (SCRAM)`);
  return client;
}

async function simpleQueries(client, index) {
  const one = await client.query(`SELECT ${index} AS me, 'two'::text AS two, NULL::int AS nothing`);
  assert.deepEqual(one.rows, [{ me: index, two: 'two', nothing: null }]);
  assert.deepEqual(one.fields.map((f) => f.name), ['me', 'two', 'nothing']);
  const many = await client.query('SELECT 1 AS a; SELECT g FROM generate_series(1, 3) g');
  assert.equal(many.length, 2);
  assert.deepEqual(many[1].rows.map((r) => r.g), [1, 2, 3]);
  const empty = await client.query('SELECT 1 WHERE false');
  assert.equal(empty.rowCount, 0);
  // Its own startup parameter, on a backend other clients share.
  const name = await client.query('SHOW application_name');
  assert.equal(name.rows[0].application_name, `pgswarm-driver-${index}`);
}

async function parameterized(client, index) {
  for (let i = 0; i < rounds; i++) {
    const r = await client.query('SELECT $1::int + $2::int AS sum, $3::text AS label',
                                 [index, i, `c${index}`]);
    assert.deepEqual(r.rows, [{ sum: index + i, label: `c${index}` }]);
  }
  const nulls = await client.query('SELECT $1::text IS NULL AS isnull', [null]);
  assert.equal(nulls.rows[0].isnull, true);
}

// pg sends Parse for a name only the first time a connection uses it and
// just Bind/Execute after that, so each later execution may land on a server
// connection that never saw the Parse. The same name means a different
// statement for each client.
async function namedStatements(client, index) {
  for (let i = 0; i < rounds; i++) {
    const shared = await client.query({
      name: 'add_one', text: 'SELECT $1::int + 1 AS n, $2::text AS who', values: [i, `c${index}`],
    });
    assert.deepEqual(shared.rows, [{ n: i + 1, who: `c${index}` }]);
    const own = await client.query({
      name: 'per_client', text: `SELECT ${index} AS owner, $1::int * 2 AS twice`, values: [i],
    });
    assert.deepEqual(own.rows, [{ owner: index, twice: i * 2 }]);
  }
}

async function failedTransaction(client, index) {
  await client.query('BEGIN');
  await client.query('INSERT INTO driver_t (client, v) VALUES ($1, $2)', [index, 1]);
  await assert.rejects(client.query('SELECT 1 / $1::int', [0]), { code: '22012' });
  await assert.rejects(client.query('SELECT 1'), { code: '25P02' });
  await assert.rejects(
    client.query({ name: 'add_one', text: 'SELECT $1::int + 1 AS n, $2::text AS who', values: [1, 'x'] }),
    { code: '25P02' });
  await client.query('ROLLBACK');
  await client.query('BEGIN');
  await client.query({ name: 'insert_row', text: 'INSERT INTO driver_t (client, v) VALUES ($1, $2)',
                       values: [index, 2] });
  await client.query('COMMIT');
  const rows = await client.query('SELECT v FROM driver_t WHERE client = $1 ORDER BY v', [index]);
  assert.deepEqual(rows.rows, [{ v: 2 }]);
}

async function main() {
  const setup = await connect('setup');
  await setup.query('DROP TABLE IF EXISTS driver_t; CREATE TABLE driver_t (client int, v int)');
  await setup.end();

  const all = await Promise.all(Array.from({ length: clients }, (_, i) => connect(i)));
  const backends = new Set();
  await Promise.all(all.map(async (client, index) => {
    await simpleQueries(client, index);
    await parameterized(client, index);
    await namedStatements(client, index);
    await failedTransaction(client, index);
    for (let i = 0; i < 5; i++) {
      backends.add((await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
    }
  }));
  assert.ok(backends.size <= maxBackends,
            `${clients} clients used ${backends.size} backends, more than the pool's ${maxBackends}`);
  const total = await all[0].query('SELECT count(*)::int AS n FROM driver_t');
  assert.equal(total.rows[0].n, clients);
  await Promise.all(all.map((client) => client.end()));
  console.log(`node-postgres through the pool: ok (${clients} clients on ${backends.size} backends)`);
}

main().catch((error) => {
  console.error('node-postgres through the pool: FAILED');
  console.error(error);
  process.exit(1);
});
