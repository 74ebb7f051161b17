"""psycopg 3 through pgsplit in transaction mode (run by tests/drivers.rs).

Connection parameters come from the PG* environment variables. Several
threads, each with its own connection, its own search_path and
application_name, prepare statements on the server (prepare_threshold=0:
psycopg names them _pg3_0, _pg3_1, ... on every connection, so the names
collide across clients with different SQL), write inside transactions and
read their writes afterwards. Exits non-zero, naming what failed.
"""

import sys
import threading
import traceback

import psycopg

THREADS = 6
ROUNDS = 25
failures = []


def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")
        raise AssertionError(failures[-1])


def connect(**kw):
    return psycopg.connect(prepare_threshold=0, **kw)


def setup():
    with connect(autocommit=True) as c:
        for i in range(THREADS):
            c.execute(f"DROP SCHEMA IF EXISTS drv_py_{i} CASCADE")
            c.execute(f"CREATE SCHEMA drv_py_{i}")
            c.execute(f"CREATE TABLE drv_py_{i}.t (v int)")
            c.execute(f"INSERT INTO drv_py_{i}.t VALUES ({i})")
        c.execute("DROP TABLE IF EXISTS drv_py_log")
        c.execute("CREATE TABLE drv_py_log (who int, n int)")


def worker(i):
    app = f"drv-py-{i}"
    with connect(autocommit=True, application_name=app) as c:
        c.execute(f"SET search_path = drv_py_{i}, public")
        # SQL-level PREPARE: every thread's s1 has different SQL.
        c.execute(f"PREPARE s1 AS SELECT {i} * 100 + $1::int")
        for n in range(ROUNDS):
            check(f"{app} application_name",
                  c.execute("SHOW application_name").fetchone()[0], app)
            check(f"{app} search_path",
                  c.execute("SHOW search_path").fetchone()[0],
                  f"drv_py_{i}, public")
            # The same text on every thread; search_path decides the table.
            row = c.execute("SELECT v FROM t", prepare=True).fetchone()
            check(f"{app} SELECT v FROM t (round {n})", row[0], i)
            # Different text on every thread under the same _pg3_ names.
            row = c.execute(f"SELECT %s::int + {i}", (n,), prepare=True).fetchone()
            check(f"{app} per-thread statement", row[0], n + i)
            check(f"{app} EXECUTE s1",
                  c.execute(f"EXECUTE s1({n})").fetchone()[0], i * 100 + n)
            with c.transaction():
                c.execute("INSERT INTO drv_py_log VALUES (%s, %s)", (i, n),
                          prepare=True)
                got = c.execute("SELECT count(*) FROM drv_py_log WHERE who = %s",
                                (i,), prepare=True).fetchone()[0]
                check(f"{app} count inside the transaction", got, n + 1)
            # Read-your-writes after commit (a read: the replica may serve it).
            got = c.execute("SELECT count(*) FROM drv_py_log WHERE who = %s",
                            (i,), prepare=True).fetchone()[0]
            check(f"{app} count after commit", got, n + 1)
            if n % 5 == 0:
                # Pipeline mode: several statements, one Sync.
                with c.pipeline():
                    cur1 = c.execute("SELECT %s::text", (app,), prepare=True)
                    cur2 = c.execute("SELECT current_setting('application_name')",
                                     prepare=True)
                check(f"{app} pipeline", (cur1.fetchone()[0], cur2.fetchone()[0]),
                      (app, app))
        # A server-side cursor (DECLARE, FETCH) inside a transaction.
        with c.transaction():
            with c.cursor(name=f"big_{i}") as cur:
                cur.itersize = 100
                cur.execute("SELECT g FROM generate_series(1, 1000) g")
                check(f"{app} named cursor sum", sum(r[0] for r in cur), 500500)
        # COPY in both directions.
        with c.cursor().copy("COPY drv_py_log (who, n) FROM STDIN") as cp:
            for j in range(300):
                cp.write_row((100 + i, j))
        got = c.execute("SELECT count(*) FROM drv_py_log WHERE who = %s",
                        (100 + i,)).fetchone()[0]
        check(f"{app} copied rows", got, 300)
        out = bytearray()
        with c.cursor().copy(
                f"COPY (SELECT n FROM drv_py_log WHERE who = {100 + i} ORDER BY n)"
                " TO STDOUT") as cp:
            for block in cp:
                out += block
        check(f"{app} COPY TO STDOUT lines", len(bytes(out).splitlines()), 300)
        c.execute("DEALLOCATE s1")
        # Gone for this client, whatever other clients prepared as s1.
        try:
            c.execute("EXECUTE s1(1)")
            failures.append(f"{app} EXECUTE s1 after DEALLOCATE succeeded")
        except psycopg.errors.InvalidSqlStatementName:
            pass
        # A rolled-back transaction leaves nothing behind (and psycopg
        # answers a ROLLBACK with DEALLOCATE ALL).
        c.autocommit = False
        c.execute("INSERT INTO drv_py_log VALUES (%s, -1)", (i,))
        c.rollback()
        c.autocommit = True
        got = c.execute("SELECT count(*) FROM drv_py_log WHERE who = %s AND n = -1",
                        (i,)).fetchone()[0]
        check(f"{app} rolled-back row", got, 0)


def run(i):
    try:
        worker(i)
    except Exception as e:  # noqa: BLE001 - every failure is reported
        if not isinstance(e, AssertionError):
            here = [f for f in traceback.extract_tb(e.__traceback__)
                    if f.filename == __file__]
            where = here[-1]
            failures.append(f"thread {i}: {type(e).__name__}: {e} "
                            f"(line {where.lineno}: {where.line})")


def main():
    setup()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        for f in failures:
            print("FAIL:", f)
        return 1
    print(f"psycopg {psycopg.__version__}: {THREADS} threads x {ROUNDS} rounds ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
