// node-postgres named queries through pgsplit in transaction mode (run by
// tests/drivers.rs). Every client prepares `s1` with its own SQL (and `s2`
// with the same SQL everywhere), concurrently, with its own
// application_name and search_path; transactions and read-your-writes.
// Connection parameters come from the PG* environment variables. Exits 1
// and prints what failed.
'use strict';

const { Client } = require('pg');

const CLIENTS = 6;
const ROUNDS = 25;
const failures = [];

function check(what, got, want) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    const f = `${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`;
    failures.push(f);
    throw new Error(f);
  }
}

async function setup() {
  const c = new Client();
  await c.connect();
  try {
    for (let i = 0; i < CLIENTS; i++) {
      await c.query(`DROP SCHEMA IF EXISTS drv_node_${i} CASCADE`);
      await c.query(`CREATE SCHEMA drv_node_${i}`);
      await c.query(`CREATE TABLE drv_node_${i}.t (v int)`);
      await c.query(`INSERT INTO drv_node_${i}.t VALUES (${i})`);
    }
    await c.query('DROP TABLE IF EXISTS drv_node_rows');
    await c.query('CREATE TABLE drv_node_rows (who int, n int)');
  } finally {
    await c.end();
  }
}

async function worker(i) {
  const app = `drv-node-${i}`;
  const c = new Client({ application_name: app });
  await c.connect();
  try {
    await c.query(`SET search_path = drv_node_${i}, public`);
    for (let n = 0; n < ROUNDS; n++) {
      let r = await c.query({ name: 's1', text: `SELECT $1::int * 10 + ${i} AS v`, values: [n] });
      check(`${app} s1 (round ${n})`, r.rows[0].v, n * 10 + i);
      r = await c.query({ name: 's2', text: 'SELECT v FROM t', values: [] });
      check(`${app} s2 via search_path`, r.rows[0].v, i);
      r = await c.query({ name: 'app', text: "SELECT current_setting('application_name') AS a" });
      check(`${app} application_name`, r.rows[0].a, app);
      await c.query('BEGIN');
      await c.query({ name: 'ins', text: 'INSERT INTO drv_node_rows VALUES ($1, $2)', values: [i, n] });
      r = await c.query({ name: 'cnt', text: 'SELECT count(*)::int AS n FROM drv_node_rows WHERE who = $1', values: [i] });
      check(`${app} count inside the transaction`, r.rows[0].n, n + 1);
      await c.query('COMMIT');
      r = await c.query({ name: 'cnt', text: 'SELECT count(*)::int AS n FROM drv_node_rows WHERE who = $1', values: [i] });
      check(`${app} count after commit`, r.rows[0].n, n + 1);
    }
    // An error inside a transaction: ROLLBACK, and the client goes on.
    await c.query('BEGIN');
    await c.query({ name: 'ins', text: 'INSERT INTO drv_node_rows VALUES ($1, $2)', values: [i, -1] });
    let failed = null;
    try {
      await c.query({ name: 'boom', text: 'SELECT 1 / $1::int AS x', values: [0] });
    } catch (e) {
      failed = e.code;
    }
    check(`${app} division by zero`, failed, '22012');
    await c.query('ROLLBACK');
    const r = await c.query({ name: 'cnt', text: 'SELECT count(*)::int AS n FROM drv_node_rows WHERE who = $1', values: [i] });
    check(`${app} count after rollback`, r.rows[0].n, ROUNDS);
    const again = await c.query({ name: 'boom', text: 'SELECT 1 / $1::int AS x', values: [1] });
    check(`${app} statement after its error`, again.rows[0].x, 1);
  } finally {
    await c.end();
  }
}

async function main() {
  await setup();
  const results = await Promise.allSettled([...Array(CLIENTS).keys()].map(worker));
  for (const r of results) {
    if (r.status === 'rejected' && !failures.includes(r.reason.message)) {
      failures.push(String(r.reason && r.reason.stack || r.reason));
    }
  }
  if (failures.length) {
    for (const f of failures) console.log('FAIL:', f);
    process.exit(1);
  }
  console.log(`node-postgres ${require('pg/package.json').version}: ${CLIENTS} clients x ${ROUNDS} rounds ok`);
}

main().catch((e) => {
  console.log('FAIL:', e.stack || e);
  process.exit(1);
});
