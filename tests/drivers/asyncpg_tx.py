"""asyncpg through pgsplit in transaction mode (run by tests/drivers.rs).

asyncpg prepares every statement under its own names (__asyncpg_stmt_N__,
the same names on every connection, each with its own SQL), describes
before it binds, caches statements per connection, and resets a pooled
connection on release (pg_advisory_unlock_all(), CLOSE ALL, UNLISTEN *,
RESET ALL). Connection parameters come from the PG* environment variables.
Exits non-zero, naming what failed.
"""

import asyncio
import os
import sys

import asyncpg

CONNS = 6
ROUNDS = 20
failures = []


def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")
        raise AssertionError(failures[-1])


async def step(what, coro, seconds=30):
    """Runs one step; a hang is reported by name instead of timing out."""
    try:
        return await asyncio.wait_for(coro, seconds)
    except asyncio.TimeoutError:
        failures.append(f"{what}: no answer within {seconds} s")
        raise AssertionError(failures[-1]) from None


async def setup():
    c = await asyncpg.connect()
    try:
        for i in range(CONNS):
            await c.execute(f"DROP SCHEMA IF EXISTS drv_apg_{i} CASCADE")
            await c.execute(f"CREATE SCHEMA drv_apg_{i}")
            await c.execute(f"CREATE TABLE drv_apg_{i}.t (v int)")
            await c.execute(f"INSERT INTO drv_apg_{i}.t VALUES ({i})")
        await c.execute("DROP TABLE IF EXISTS drv_apg_items")
        await c.execute("CREATE TABLE drv_apg_items (who int, n int, label text)")
    finally:
        await c.close()


async def own_connection(i):
    """A connection with its own search_path and application_name."""
    app = f"drv-apg-{i}"
    c = await asyncpg.connect(server_settings={
        "application_name": app,
        "search_path": f"drv_apg_{i}, public",
    })
    try:
        # Prepared once, reused every round (asyncpg keeps it per connection).
        mine = await c.prepare(f"SELECT $1::int * 10 + {i}")
        for n in range(ROUNDS):
            check(f"{app} application_name",
                  await c.fetchval("SELECT current_setting('application_name')"), app)
            check(f"{app} search_path", await c.fetchval("SHOW search_path"),
                  f"drv_apg_{i}, public")
            check(f"{app} table via search_path (round {n})",
                  await c.fetchval("SELECT v FROM t"), i)
            check(f"{app} prepared()", await mine.fetchval(n), n * 10 + i)
            async with c.transaction():
                await c.execute("INSERT INTO drv_apg_items VALUES ($1, $2, $3)",
                                i, n, app)
                got = await c.fetchval(
                    "SELECT count(*) FROM drv_apg_items WHERE who = $1", i)
                check(f"{app} count inside the transaction", got, n + 1)
            got = await c.fetchval("SELECT count(*) FROM drv_apg_items WHERE who = $1", i)
            check(f"{app} count after commit", got, n + 1)
        # A cursor: Execute with a row limit, portal kept in the transaction.
        async def cursor():
            async with c.transaction():
                total = 0
                async for r in c.cursor("SELECT g FROM generate_series(1, 1000) g",
                                        prefetch=64):
                    total += r["g"]
                return total
        check(f"{app} cursor sum", await step(f"{app} cursor", cursor()), 500500)
        # COPY FROM STDIN (binary).
        await step(f"{app} copy_records_to_table", c.copy_records_to_table(
            "drv_apg_items", columns=["who", "n", "label"],
            records=[(100 + i, j, f"copy-{j}") for j in range(200)]))
        check(f"{app} copied rows", await c.fetchval(
            "SELECT count(*) FROM drv_apg_items WHERE who = $1", 100 + i), 200)
        # A failed transaction rolls back and the connection goes on.
        try:
            async with c.transaction():
                await c.execute("INSERT INTO drv_apg_items VALUES ($1, -1, 'x')", i)
                await c.fetchval("SELECT 1/0")
        except asyncpg.DivisionByZeroError:
            pass
        check(f"{app} rolled-back row", await c.fetchval(
            "SELECT count(*) FROM drv_apg_items WHERE who = $1 AND n = -1", i), 0)
    finally:
        await c.close()


async def pooled(pool, k):
    """Pool users: acquire, run, release (asyncpg resets on release)."""
    for n in range(ROUNDS):
        async with pool.acquire() as c:
            got = await c.fetchval("SELECT $1::int + $2::int", k, n)
            check(f"pool task {k} sum", got, k + n)
            rows = await c.fetch(
                "SELECT g, g * $1::int AS m FROM generate_series(1, 50) g", k)
            check(f"pool task {k} rows", [r["m"] for r in rows],
                  [g * k for g in range(1, 51)])
            if n % 4 == 0:
                base = 1000 + k * 100 + n
                await c.executemany(
                    "INSERT INTO drv_apg_items VALUES ($1, $2, $3)",
                    [(base, j, f"many-{j}") for j in range(10)])
                got = await c.fetchval(
                    "SELECT count(*) FROM drv_apg_items WHERE who = $1", base)
                check(f"pool task {k} executemany rows", got, 10)
            async with c.transaction():
                got = await c.fetchval("SELECT txid_current() = txid_current()")
                check(f"pool task {k} one transaction", got, True)


async def main():
    await setup()
    pool = await asyncpg.create_pool(min_size=2, max_size=4)
    try:
        tasks = [asyncio.create_task(own_connection(i)) for i in range(CONNS)]
        tasks += [asyncio.create_task(pooled(pool, k)) for k in range(1, 9)]
        done, pending = await asyncio.wait(tasks, timeout=150)
        for t in pending:
            failures.append(f"a task hangs: {t.get_stack()!r}")
            t.print_stack(file=sys.stdout)
        for t in done:
            r = t.exception()
            if r is not None and not isinstance(r, AssertionError):
                failures.append(f"{type(r).__name__}: {r}")
        if pending:
            for f in failures:
                print("FAIL:", f)
            sys.stdout.flush()
            os._exit(1)
    finally:
        await pool.close()
    if failures:
        for f in failures:
            print("FAIL:", f)
        return 1
    print(f"asyncpg {asyncpg.__version__}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
