#!/usr/bin/env python3
"""Turns statements.sql into a psql script that runs every statement in order
on one session, wrapping those annotated `read` in BEGIN READ ONLY/ROLLBACK.

    python3 check_corpus.py > /tmp/run.sql
    psql -v ON_ERROR_STOP=1 -f schema.sql && psql -f /tmp/run.sql 2>&1 | grep -B1 ERROR

Each statement is preceded by an `@@STMT n label` echo line so errors can be
traced back. (The one expected WARNING is the standalone SET LOCAL.)
"""
import os

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "statements.sql")
script = ["\\set ON_ERROR_STOP 0", "SET client_min_messages = warning;"]
n = 0
for chunk in open(path).read().split("\n-- next\n"):
    expect, sql = None, []
    for line in chunk.split("\n"):
        if line.startswith("-- expect: "):
            expect = line[len("-- expect: "):].strip()
        elif line.startswith("--") and not sql:
            continue
        else:
            sql.append(line)
    text = "\n".join(sql).strip().rstrip(";")
    if not text:
        continue
    n += 1
    script.append(f"\\echo @@STMT {n} {expect}")
    if expect == "read":
        script += ["BEGIN READ ONLY;", text + ";", "ROLLBACK;"]
    else:
        script.append(text + ";")
print("\n".join(script))
