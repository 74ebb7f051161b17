-- pgsplit classifier corpus: SQL statements valid against schema.sql.
--
-- Format: statements are separated by a line that is exactly `-- next`.
-- The first line of a statement may be `-- expect: LABEL`, where LABEL is
-- Class::label() of the expected classification: `read`, `session`,
-- `transaction`, or a WriteReason::as_str() such as `dml`, `ddl`,
-- `locking`, `volatile_function`, `execute`, `multi_statement`.
-- Other lines starting with `--` before the SQL are comments.
--
-- Run the statements in order on ONE session (some depend on earlier ones:
-- PREPARE/EXECUTE, BEGIN/COMMIT pairs, scratch tables). Statements
-- classified `read` must also succeed inside BEGIN READ ONLY on a standby.
-- COPY is excluded because it needs the copy sub-protocol.
-- next
-- expect: read
SELECT 1
-- next
-- expect: read
SELECT 1 + 1 AS two, 'x' AS s, NULL::int AS n
-- next
-- expect: read
SELECT * FROM users
-- next
-- expect: read
SELECT id, name FROM users WHERE id = 1
-- next
-- expect: read
SELECT id, name FROM users WHERE name = 'alice' AND active
-- next
-- expect: read
SELECT * FROM users WHERE email IS NULL
-- next
-- expect: read
SELECT * FROM users WHERE email LIKE '%@example.com' ORDER BY name
-- next
-- expect: read
SELECT * FROM users WHERE name ILIKE 'A%' OR name ~ '^b'
-- next
-- expect: read
SELECT * FROM users WHERE id IN (1, 2, 3)
-- next
-- expect: read
SELECT * FROM users WHERE id = ANY (ARRAY[1, 2])
-- next
-- expect: read
SELECT * FROM users WHERE id BETWEEN 1 AND 3 ORDER BY id DESC LIMIT 2
-- next
-- expect: read
SELECT * FROM users ORDER BY id LIMIT 2 OFFSET 1
-- next
-- expect: read
SELECT * FROM users ORDER BY id FETCH FIRST 2 ROWS ONLY
-- next
-- expect: read
SELECT count(*) FROM users
-- next
-- expect: read
SELECT count(*) FILTER (WHERE active) AS active, count(*) AS total FROM users
-- next
-- expect: read
SELECT active, count(*) FROM users GROUP BY active
-- next
-- expect: read
SELECT active, count(*) FROM users GROUP BY active HAVING count(*) > 1
-- next
-- expect: read
SELECT DISTINCT status FROM orders
-- next
-- expect: read
SELECT DISTINCT ON (user_id) user_id, id, created_at FROM orders ORDER BY user_id, created_at DESC
-- next
-- expect: read
SELECT u.name, o.id, o.total FROM users u JOIN orders o ON o.user_id = u.id
-- next
-- expect: read
SELECT u.name, o.id FROM users u LEFT JOIN orders o ON o.user_id = u.id ORDER BY u.name
-- next
-- expect: read
SELECT u.name, o.id FROM users u RIGHT JOIN orders o ON o.user_id = u.id
-- next
-- expect: read
SELECT u.name, o.id FROM users u FULL OUTER JOIN orders o ON o.user_id = u.id
-- next
-- expect: read
SELECT u.name, i.title FROM users u CROSS JOIN items i WHERE i.price < 10
-- next
-- expect: read
SELECT o.id, i.title, oi.qty FROM orders o JOIN order_items oi ON oi.order_id = o.id JOIN items i ON i.id = oi.item_id
-- next
-- expect: read
SELECT o.id, sum(i.price * oi.qty) AS amount FROM orders o JOIN order_items oi ON oi.order_id = o.id JOIN items i ON i.id = oi.item_id GROUP BY o.id ORDER BY amount DESC
-- next
-- expect: read
SELECT u.name FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id)
-- next
-- expect: read
SELECT u.name FROM users u WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id)
-- next
-- expect: read
SELECT u.name FROM users u WHERE u.id IN (SELECT user_id FROM orders WHERE status = 'paid')
-- next
-- expect: read
SELECT name, (SELECT count(*) FROM orders o WHERE o.user_id = u.id) AS n FROM users u
-- next
-- expect: read
SELECT * FROM (SELECT user_id, sum(total) AS s FROM orders GROUP BY user_id) t WHERE s > 10
-- next
-- expect: read
WITH big AS (SELECT * FROM orders WHERE total > 10) SELECT count(*) FROM big
-- next
-- expect: read
WITH a AS (SELECT id FROM users), b AS (SELECT user_id FROM orders) SELECT * FROM a JOIN b ON a.id = b.user_id
-- next
-- expect: read
WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT sum(n) FROM r
-- next
-- expect: read
WITH t AS MATERIALIZED (SELECT * FROM items) SELECT title FROM t
-- next
-- expect: read
WITH t AS NOT MATERIALIZED (SELECT * FROM items) SELECT title FROM t WHERE price > 5
-- next
-- expect: read
SELECT id, total, row_number() OVER (ORDER BY total DESC) FROM orders
-- next
-- expect: read
SELECT id, user_id, rank() OVER (PARTITION BY user_id ORDER BY total) FROM orders
-- next
-- expect: read
SELECT id, sum(total) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM orders
-- next
-- expect: read
SELECT id, lag(total) OVER w, lead(total) OVER w FROM orders WINDOW w AS (ORDER BY created_at)
-- next
-- expect: read
SELECT id, first_value(total) OVER (PARTITION BY user_id ORDER BY id), last_value(total) OVER (PARTITION BY user_id ORDER BY id) FROM orders
-- next
-- expect: read
SELECT id, ntile(2) OVER (ORDER BY id), percent_rank() OVER (ORDER BY total), cume_dist() OVER (ORDER BY total) FROM orders
-- next
-- expect: read
SELECT id, dense_rank() OVER (ORDER BY status) FROM orders
-- next
-- expect: read
SELECT user_id, avg(total), min(total), max(total), sum(total) FROM orders GROUP BY user_id
-- next
-- expect: read
SELECT string_agg(name, ', ' ORDER BY name) FROM users
-- next
-- expect: read
SELECT array_agg(id ORDER BY id DESC) FROM users
-- next
-- expect: read
SELECT json_agg(u ORDER BY u.id) FROM users u
-- next
-- expect: read
SELECT jsonb_agg(jsonb_build_object('id', id, 'name', name)) FROM users
-- next
-- expect: read
SELECT json_object_agg(sku, price) FROM items
-- next
-- expect: read
SELECT bool_and(active), bool_or(active), every(active) FROM users
-- next
-- expect: read
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY total) FROM orders
-- next
-- expect: read
SELECT percentile_disc(0.9) WITHIN GROUP (ORDER BY price) FROM items
-- next
-- expect: read
SELECT mode() WITHIN GROUP (ORDER BY status) FROM orders
-- next
-- expect: read
SELECT stddev(total), variance(total) FROM orders
-- next
-- expect: read
SELECT status, count(*) FROM orders GROUP BY ROLLUP (status)
-- next
-- expect: read
SELECT status, user_id, count(*) FROM orders GROUP BY GROUPING SETS ((status), (user_id), ())
-- next
-- expect: read
SELECT status, user_id, count(*) FROM orders GROUP BY CUBE (status, user_id)
-- next
-- expect: read
SELECT * FROM generate_series(1, 5) AS g(n)
-- next
-- expect: read
SELECT n, n * n FROM generate_series(1, 3) n
-- next
-- expect: read
SELECT * FROM generate_series(now() - interval '2 days', now(), interval '1 day') AS d
-- next
-- expect: read
SELECT * FROM unnest(ARRAY['a', 'b', 'c']) WITH ORDINALITY AS t(v, i)
-- next
-- expect: read
SELECT u.name, t.tag FROM users u CROSS JOIN LATERAL jsonb_array_elements_text(u.tags) AS t(tag)
-- next
-- expect: read
SELECT u.name, o.total FROM users u, LATERAL (SELECT total FROM orders o WHERE o.user_id = u.id ORDER BY created_at DESC LIMIT 1) o
-- next
-- expect: read
SELECT u.name, x.n FROM users u LEFT JOIN LATERAL (SELECT count(*) AS n FROM orders o WHERE o.user_id = u.id) x ON true
-- next
-- expect: read
SELECT id FROM users UNION SELECT user_id FROM orders
-- next
-- expect: read
SELECT id FROM users UNION ALL SELECT user_id FROM orders ORDER BY 1
-- next
-- expect: read
SELECT id FROM users INTERSECT SELECT user_id FROM orders
-- next
-- expect: read
SELECT id FROM users EXCEPT SELECT user_id FROM orders
-- next
-- expect: read
(SELECT id FROM users ORDER BY id LIMIT 1) UNION ALL (SELECT id FROM items ORDER BY id DESC LIMIT 1)
-- next
-- expect: read
SELECT data->>'name' AS name, data->'a'->>'b' AS b FROM docs
-- next
-- expect: read
SELECT data #> '{a,b}', data #>> '{n,0}' FROM docs
-- next
-- expect: read
SELECT * FROM docs WHERE data @> '{"name": "first"}'
-- next
-- expect: read
SELECT * FROM docs WHERE data ? 'name'
-- next
-- expect: read
SELECT * FROM docs WHERE data ?| ARRAY['x', 'name']
-- next
-- expect: read
SELECT * FROM docs WHERE data ?& ARRAY['a', 'name']
-- next
-- expect: read
SELECT jsonb_typeof(data->'n'), jsonb_array_length(data->'n') FROM docs
-- next
-- expect: read
SELECT jsonb_pretty(data) FROM docs
-- next
-- expect: read
SELECT jsonb_set(data, '{a,b}', '5') FROM docs
-- next
-- expect: read
SELECT data - 'a' FROM docs
-- next
-- expect: read
SELECT data || '{"extra": true}' FROM docs
-- next
-- expect: read
SELECT key, value FROM docs, jsonb_each(data)
-- next
-- expect: read
SELECT jsonb_object_keys(data) FROM docs
-- next
-- expect: read
SELECT jsonb_path_query(data, '$.n[*]') FROM docs
-- next
-- expect: read
SELECT jsonb_path_exists(data, '$.a.b ? (@ > 1)') FROM docs
-- next
-- expect: read
SELECT to_jsonb(i) FROM items i
-- next
-- expect: read
SELECT row_to_json(u) FROM users u
-- next
-- expect: read
SELECT json_build_object('n', count(*)) FROM users
-- next
-- expect: read
SELECT jsonb_strip_nulls('{"a": null, "b": 1}'::jsonb)
-- next
-- expect: read
SELECT '{"a": 1}'::json->'a'
-- next
-- expect: read
SELECT * FROM jsonb_to_record('{"a": 1, "b": "x"}'::jsonb) AS r(a int, b text)
-- next
-- expect: read
SELECT ARRAY[1, 2, 3]
-- next
-- expect: read
SELECT ARRAY[1, 2] || ARRAY[3, 4]
-- next
-- expect: read
SELECT (ARRAY[10, 20, 30])[2]
-- next
-- expect: read
SELECT (ARRAY[10, 20, 30])[1:2]
-- next
-- expect: read
SELECT labels, array_length(labels, 1), cardinality(labels) FROM items
-- next
-- expect: read
SELECT * FROM items WHERE labels @> ARRAY['tools']
-- next
-- expect: read
SELECT * FROM items WHERE 'tools' = ANY (labels)
-- next
-- expect: read
SELECT * FROM items WHERE labels && ARRAY['fragile', 'small']
-- next
-- expect: read
SELECT array_to_string(labels, '|') FROM items
-- next
-- expect: read
SELECT string_to_array('a,b,c', ',')
-- next
-- expect: read
SELECT array_append(labels, 'new'), array_remove(labels, 'tools') FROM items
-- next
-- expect: read
SELECT ARRAY(SELECT id FROM users ORDER BY id)
-- next
-- expect: read
SELECT id::text, price::int, '42'::bigint, CAST(stock AS numeric) FROM items
-- next
-- expect: read
SELECT '2024-01-01'::date + 1, '1 day'::interval * 3
-- next
-- expect: read
SELECT now()::date, current_date, current_time, localtime, localtimestamp
-- next
-- expect: read
SELECT now(), current_timestamp, transaction_timestamp(), statement_timestamp()
-- next
-- expect: read
SELECT date_trunc('month', created_at), count(*) FROM orders GROUP BY 1 ORDER BY 1
-- next
-- expect: read
SELECT extract(epoch FROM created_at), date_part('dow', created_at) FROM orders
-- next
-- expect: read
SELECT to_char(created_at, 'YYYY-MM-DD HH24:MI'), age(created_at) FROM orders
-- next
-- expect: read
SELECT * FROM orders WHERE created_at > now() - interval '7 days'
-- next
-- expect: read
SELECT * FROM orders WHERE created_at::date = current_date
-- next
-- expect: read
SELECT make_date(2024, 2, 29), make_interval(days => 3)
-- next
-- expect: read
SELECT justify_interval(interval '36 hours'), date_bin('15 minutes', now(), timestamptz '2001-01-01')
-- next
-- expect: read
SELECT lower(name), upper(name), initcap(name), length(name) FROM users
-- next
-- expect: read
SELECT substr(name, 1, 2), left(name, 1), right(name, 2), reverse(name) FROM users
-- next
-- expect: read
SELECT replace(email, '@', ' at '), split_part(email, '@', 2) FROM users WHERE email IS NOT NULL
-- next
-- expect: read
SELECT trim('  x  '), ltrim('xxa', 'x'), rtrim('axx', 'x'), btrim('xax', 'x')
-- next
-- expect: read
SELECT lpad(id::text, 5, '0'), rpad(name, 8, '.') FROM users
-- next
-- expect: read
SELECT position('b' IN 'abc'), strpos('abc', 'c'), substring('abcdef' FROM 2 FOR 3)
-- next
-- expect: read
SELECT concat(name, '-', id), concat_ws('/', 'a', 'b'), format('%s has %s', name, id) FROM users
-- next
-- expect: read
SELECT md5(name), encode(sha256(name::bytea), 'hex') FROM users
-- next
-- expect: read
SELECT regexp_replace(email, '@.*', ''), regexp_match(email, '^(\w+)@') FROM users WHERE email IS NOT NULL
-- next
-- expect: read
SELECT regexp_split_to_array('a1b2c', '[0-9]')
-- next
-- expect: read
SELECT repeat('ab', 3), chr(65), ascii('A'), to_hex(255)
-- next
-- expect: read
SELECT quote_ident('Some Name'), quote_literal('it''s'), quote_nullable(NULL::text)
-- next
-- expect: read
SELECT starts_with(name, 'a') FROM users
-- next
-- expect: read
SELECT 'a' || 'b' || 'c', 'abc' LIKE 'a%', 'abc' SIMILAR TO '%(b|d)%'
-- next
-- expect: read
SELECT E'tab\there', $$dollar 'quoted'$$, U&'\0041'
-- next
-- expect: read
SELECT abs(-5), ceil(4.2), floor(4.8), round(4.567, 2), trunc(4.567, 1)
-- next
-- expect: read
SELECT sqrt(16), power(2, 10), mod(17, 5), 17 % 5, 2 ^ 3, |/ 25
-- next
-- expect: read
SELECT pi(), sin(0), cos(0), ln(10), log(100), exp(1)
-- next
-- expect: read
SELECT greatest(1, 5, 3), least(1, 5, 3), coalesce(NULL, 2), nullif(1, 1)
-- next
-- expect: read
SELECT sign(-3), div(7, 2), gcd(12, 18), width_bucket(5.5, 0, 10, 4)
-- next
-- expect: read
SELECT price_with_tax(price) FROM items
-- next
-- expect: read
SELECT name, user_order_count(id) FROM users
-- next
-- expect: read
SELECT * FROM items WHERE price_with_tax(price) > 10
-- next
-- expect: read
SELECT CASE WHEN price > 20 THEN 'expensive' WHEN price > 5 THEN 'normal' ELSE 'cheap' END FROM items
-- next
-- expect: read
SELECT CASE status WHEN 'paid' THEN 1 ELSE 0 END FROM orders
-- next
-- expect: read
SELECT status::text, status = 'paid', status > 'new' FROM orders
-- next
-- expect: read
SELECT enum_range(NULL::order_status)
-- next
-- expect: read
SELECT * FROM orders WHERE status IN ('paid', 'shipped')
-- next
-- expect: read
SELECT (1, 'a') = (1, 'a'), ROW(1, 2) < ROW(1, 3)
-- next
-- expect: read
SELECT * FROM users WHERE (id, name) IN (SELECT 1, 'alice')
-- next
-- expect: read
SELECT id IS DISTINCT FROM 2, id IS NOT DISTINCT FROM 1 FROM users
-- next
-- expect: read
SELECT * FROM users WHERE active IS TRUE AND email IS NOT NULL
-- next
-- expect: read
SELECT 'fox' = ANY (string_to_array(body, ' ')) FROM docs
-- next
-- expect: read
SELECT to_tsvector('english', body) @@ to_tsquery('english', 'fox') FROM docs
-- next
-- expect: read
SELECT ts_rank(to_tsvector(body), plainto_tsquery('lazy dog')) FROM docs
-- next
-- expect: read
SELECT * FROM active_users
-- next
-- expect: read
SELECT * FROM active_users WHERE name <> 'bob'
-- next
-- expect: read
SELECT * FROM order_totals ORDER BY total DESC
-- next
-- expect: read
SELECT last_value, is_called FROM ticket_seq
-- next
-- expect: read
SELECT * FROM app.settings WHERE key = 'theme'
-- next
-- expect: read
SELECT s.key, s.value FROM app.settings s ORDER BY s.key
-- next
-- expect: read
SELECT * FROM events WHERE payload->>'user' = '1' ORDER BY at DESC
-- next
-- expect: read
SELECT kind, count(*) FROM events GROUP BY kind
-- next
-- expect: read
SELECT * FROM audit_log ORDER BY id DESC LIMIT 5
-- next
-- expect: read
SELECT * FROM users TABLESAMPLE BERNOULLI (50) REPEATABLE (1)
-- next
-- expect: read
SELECT random() < 2, gen_random_uuid() IS NOT NULL
-- next
-- expect: read
SELECT clock_timestamp() >= statement_timestamp()
-- next
-- expect: read
SELECT pg_sleep(0)
-- next
-- expect: read
SELECT current_user, session_user, current_role, current_schema, current_catalog
-- next
-- expect: read
SELECT current_database(), current_schemas(true), version()
-- next
-- expect: read
SELECT current_setting('search_path'), current_setting('TimeZone')
-- next
-- expect: read
SELECT pg_is_in_recovery(), pg_backend_pid() > 0, inet_server_port()
-- next
-- expect: read
SELECT pg_postmaster_start_time() < now(), pg_conf_load_time() IS NOT NULL
-- next
-- expect: read
SELECT has_table_privilege('users', 'SELECT'), has_schema_privilege('app', 'USAGE')
-- next
-- expect: read
SELECT pg_has_role(current_user, 'MEMBER'), has_database_privilege(current_database(), 'CONNECT')
-- next
-- expect: read
SELECT pg_size_pretty(pg_total_relation_size('users')), pg_relation_size('orders')
-- next
-- expect: read
SELECT pg_size_pretty(pg_database_size(current_database()))
-- next
-- expect: read
SELECT pg_typeof(1.5), pg_typeof(now()), pg_column_size(name) FROM users
-- next
-- expect: read
SELECT to_regclass('public.users'), 'users'::regclass::oid > 0
-- next
-- expect: read
SELECT txid_current_snapshot() IS NOT NULL, pg_current_snapshot() IS NOT NULL
-- next
-- expect: read
SELECT n.nspname, c.relname FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname <> 'pg_catalog' AND n.nspname !~ '^pg_toast' AND n.nspname <> 'information_schema' AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 1, 2
-- next
-- expect: read
SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relname OPERATOR(pg_catalog.~) '^(users)$' COLLATE pg_catalog.default AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 2, 3
-- next
-- expect: read
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attnum FROM pg_catalog.pg_attribute a WHERE a.attrelid = 'users'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
-- next
-- expect: read
SELECT c2.relname, i.indisprimary, i.indisunique, pg_catalog.pg_get_indexdef(i.indexrelid, 0, true) FROM pg_catalog.pg_class c, pg_catalog.pg_class c2, pg_catalog.pg_index i WHERE c.oid = 'orders'::regclass AND c.oid = i.indrelid AND i.indexrelid = c2.oid ORDER BY i.indisprimary DESC, c2.relname
-- next
-- expect: read
SELECT conname, pg_catalog.pg_get_constraintdef(r.oid, true) FROM pg_catalog.pg_constraint r WHERE r.conrelid = 'order_items'::regclass ORDER BY 1
-- next
-- expect: read
SELECT pg_catalog.pg_get_userbyid(c.relowner) AS owner, c.relname FROM pg_catalog.pg_class c WHERE c.relname = 'users'
-- next
-- expect: read
SELECT pg_catalog.pg_get_viewdef('active_users'::regclass, true)
-- next
-- expect: read
SELECT pg_catalog.obj_description('users'::regclass, 'pg_class'), pg_catalog.col_description('users'::regclass, 1)
-- next
-- expect: read
SELECT p.proname, pg_catalog.pg_get_function_arguments(p.oid), pg_catalog.pg_get_function_result(p.oid) FROM pg_catalog.pg_proc p WHERE p.proname = 'price_with_tax'
-- next
-- expect: read
SELECT n.nspname, pg_catalog.pg_get_userbyid(n.nspowner) FROM pg_catalog.pg_namespace n WHERE n.nspname !~ '^pg_' ORDER BY 1
-- next
-- expect: read
SELECT t.typname, pg_catalog.format_type(t.oid, NULL) FROM pg_catalog.pg_type t WHERE t.typname = 'order_status'
-- next
-- expect: read
SELECT e.enumlabel FROM pg_catalog.pg_enum e WHERE e.enumtypid = 'order_status'::regtype ORDER BY e.enumsortorder
-- next
-- expect: read
SELECT d.datname, pg_catalog.pg_encoding_to_char(d.encoding) FROM pg_catalog.pg_database d ORDER BY 1
-- next
-- expect: read
SELECT pg_catalog.pg_get_serial_sequence('users', 'id')
-- next
-- expect: read
SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'items' ORDER BY ordinal_position
-- next
-- expect: read
SELECT table_name FROM information_schema.tables WHERE table_schema = 'app'
-- next
-- expect: read
SELECT name, setting FROM pg_settings WHERE name IN ('work_mem', 'max_connections')
-- next
-- expect: read
SELECT count(*) >= 1 FROM pg_stat_activity
-- next
-- expect: read
SELECT relname, n_live_tup FROM pg_stat_user_tables ORDER BY relname
-- next
-- expect: read
SELECT * FROM pg_locks WHERE false
-- next
-- expect: read
SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1
-- next
-- expect: read
VALUES (1, 'one'), (2, 'two')
-- next
-- expect: read
VALUES (1) ORDER BY 1 DESC
-- next
-- expect: read
SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(n, s) WHERE n > 1
-- next
-- expect: read
TABLE users
-- next
-- expect: read
TABLE items ORDER BY price LIMIT 2
-- next
-- expect: read
SHOW search_path
-- next
-- expect: read
SHOW work_mem
-- next
-- expect: read
SHOW ALL
-- next
-- expect: read
SHOW TimeZone
-- next
-- expect: read
SHOW transaction_isolation
-- next
-- expect: read
EXPLAIN SELECT * FROM users WHERE id = 1
-- next
-- expect: read
EXPLAIN (COSTS OFF) SELECT * FROM orders JOIN users ON users.id = orders.user_id
-- next
-- expect: read
EXPLAIN (FORMAT JSON) SELECT count(*) FROM items
-- next
-- expect: read
EXPLAIN VERBOSE SELECT * FROM order_totals
-- next
-- expect: read
EXPLAIN ANALYZE SELECT count(*) FROM orders
-- next
-- expect: read
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT * FROM users WHERE active
-- next
-- expect: read
EXPLAIN INSERT INTO audit_log (note) VALUES ('never runs')
-- next
-- expect: read
EXPLAIN UPDATE items SET stock = stock - 1 WHERE id = 1
-- next
-- expect: read
EXPLAIN DELETE FROM events WHERE id < 0
-- next
-- expect: read
/* pgsplit:replica */ SELECT count(*) FROM users
-- next
-- expect: read
/* controller='users',action='index' */ SELECT * FROM users WHERE active ORDER BY id LIMIT 25
-- next
-- expect: read
SELECT "users"."id", "users"."name", "users"."email" FROM "users" WHERE "users"."id" = 2 LIMIT 1
-- next
-- expect: read
SELECT "orders".* FROM "orders" WHERE "orders"."user_id" IN (1, 2) ORDER BY "orders"."created_at" DESC
-- next
-- expect: read
SELECT users.id AS users_id, users.name AS users_name FROM users WHERE users.name = 'bob' LIMIT 1
-- next
-- expect: read
SELECT t0.id, t0.title, t0.price FROM items t0 WHERE t0.sku = 'A-1'
-- next
-- expect: read
SELECT COUNT(*) AS "count" FROM "orders" INNER JOIN "users" ON "users"."id" = "orders"."user_id" WHERE "users"."active" = true
-- next
-- expect: read
SELECT 1 AS one FROM users WHERE users.email = 'alice@example.com' LIMIT 1
-- next
-- expect: dml
INSERT INTO users (name, email) VALUES ('erin', 'erin@example.com')
-- next
-- expect: dml
INSERT INTO users (name) VALUES ('frank') RETURNING id
-- next
-- expect: dml
INSERT INTO users (name, email) VALUES ('gina', 'gina@example.com') ON CONFLICT (email) DO NOTHING
-- next
-- expect: dml
INSERT INTO users (name, email) VALUES ('gina2', 'gina@example.com') ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name
-- next
-- expect: dml
INSERT INTO items (sku, title, price) VALUES ('C-1', 'Sprocket', 1.50), ('C-2', 'Cog', 2.25)
-- next
-- expect: dml
INSERT INTO events (kind, payload) SELECT 'copy', to_jsonb(u) FROM users u WHERE u.id = 1
-- next
-- expect: dml
INSERT INTO audit_log (note) VALUES ('hello') RETURNING id, at
-- next
-- expect: dml
INSERT INTO orders (user_id, status, total) VALUES (2, 'new', 0)
-- next
-- expect: dml
INSERT INTO app.settings (key, value) VALUES ('tz', 'UTC') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
-- next
-- expect: dml
UPDATE users SET active = false WHERE name = 'frank'
-- next
-- expect: dml
UPDATE items SET stock = stock + 10 WHERE sku = 'B-1'
-- next
-- expect: dml
UPDATE items SET price = price * 1.1 WHERE id IN (SELECT item_id FROM order_items) RETURNING id, price
-- next
-- expect: dml
UPDATE orders o SET total = s.amount FROM (SELECT oi.order_id, sum(i.price * oi.qty) AS amount FROM order_items oi JOIN items i ON i.id = oi.item_id GROUP BY oi.order_id) s WHERE o.id = s.order_id
-- next
-- expect: dml
UPDATE docs SET data = jsonb_set(data, '{a,b}', '3') WHERE id = 1
-- next
-- expect: dml
UPDATE users SET tags = tags || '["new"]' WHERE id = 2
-- next
-- expect: dml
DELETE FROM events WHERE kind = 'logout'
-- next
-- expect: dml
DELETE FROM audit_log WHERE at < now() - interval '1 year'
-- next
-- expect: dml
DELETE FROM users WHERE name = 'frank' RETURNING id
-- next
-- expect: dml
DELETE FROM items USING order_items WHERE false AND items.id = order_items.item_id
-- next
-- expect: dml
MERGE INTO app.settings s USING (VALUES ('lang', 'fr')) AS v(key, value) ON s.key = v.key WHEN MATCHED THEN UPDATE SET value = v.value WHEN NOT MATCHED THEN INSERT (key, value) VALUES (v.key, v.value)
-- next
-- expect: dml
WITH moved AS (DELETE FROM events WHERE kind = 'copy' RETURNING kind, payload) INSERT INTO audit_log (note) SELECT kind FROM moved
-- next
-- expect: dml
WITH ins AS (INSERT INTO audit_log (note) VALUES ('cte') RETURNING id) SELECT id FROM ins
-- next
-- expect: dml
WITH upd AS (UPDATE items SET stock = stock WHERE id = 1 RETURNING *) SELECT count(*) FROM upd
-- next
-- expect: dml
EXPLAIN ANALYZE INSERT INTO audit_log (note) VALUES ('explain analyze')
-- next
-- expect: dml
EXPLAIN (ANALYZE, COSTS OFF) UPDATE items SET stock = stock WHERE id = 2
-- next
-- expect: dml
EXPLAIN (ANALYZE) DELETE FROM audit_log WHERE note = 'nope'
-- next
-- expect: volatile_function
SELECT nextval('ticket_seq')
-- next
-- expect: volatile_function
SELECT setval('ticket_seq', 2000)
-- next
-- expect: volatile_function
SELECT currval('ticket_seq')
-- next
-- expect: volatile_function
SELECT touch_audit('volatile call')
-- next
-- expect: volatile_function
SELECT id, touch_audit(name) FROM users WHERE id = 1
-- next
-- expect: volatile_function
SELECT * FROM users WHERE id = (SELECT touch_audit('sub') * 0 + 1)
-- next
-- expect: volatile_function
WITH t AS (SELECT touch_audit('cte') AS n) SELECT n FROM t
-- next
-- expect: volatile_function
SELECT * FROM touch_audit('from clause')
-- next
-- expect: volatile_function
SELECT CASE WHEN id = 1 THEN touch_audit('case') END FROM users
-- next
-- expect: session
SELECT pg_catalog.set_config('search_path', 'public', false)
-- next
-- expect: volatile_function
SELECT set_config('application_name', 'corpus', true)
-- next
-- expect: volatile_function
SELECT txid_current()
-- next
-- expect: volatile_function
SELECT pg_notify('corpus', 'payload')
-- next
-- expect: volatile_function
SELECT pg_current_wal_lsn()
-- next
-- expect: volatile_function
SELECT nextval('ticket_seq'), id FROM users ORDER BY id LIMIT 1
-- next
-- expect: volatile_function
EXPLAIN ANALYZE SELECT nextval('ticket_seq')
-- next
-- expect: locking
SELECT * FROM items WHERE id = 1 FOR UPDATE
-- next
-- expect: locking
SELECT * FROM items WHERE id = 1 FOR SHARE
-- next
-- expect: locking
SELECT * FROM orders WHERE status = 'new' FOR UPDATE SKIP LOCKED
-- next
-- expect: locking
SELECT * FROM orders o JOIN users u ON u.id = o.user_id FOR UPDATE OF o NOWAIT
-- next
-- expect: locking
SELECT * FROM users WHERE id IN (SELECT user_id FROM orders FOR UPDATE)
-- next
-- expect: locking
WITH l AS (SELECT id FROM items FOR SHARE) SELECT count(*) FROM l
-- next
-- expect: locking
SELECT pg_advisory_xact_lock(42)
-- next
-- expect: locking
SELECT pg_try_advisory_xact_lock(43)
-- next
-- expect: locking
SELECT pg_advisory_lock(44)
-- next
-- expect: locking
SELECT pg_advisory_unlock(44)
-- next
-- expect: locking
SELECT pg_try_advisory_lock(45)
-- next
-- expect: locking
SELECT pg_advisory_unlock_all()
-- next
-- expect: locking
BEGIN; LOCK TABLE audit_log IN ROW EXCLUSIVE MODE; COMMIT
-- next
-- expect: locking
BEGIN; LOCK TABLE events IN SHARE MODE; COMMIT
-- next
-- expect: unparseable
SELECT * FROM items WHERE id = 2 FOR NO KEY UPDATE
-- next
-- expect: unparseable
SELECT * FROM items WHERE id = 2 FOR KEY SHARE
-- next
-- expect: ddl
CREATE TABLE IF NOT EXISTS corpus_scratch (id int PRIMARY KEY, note text)
-- next
-- expect: ddl
ALTER TABLE corpus_scratch ADD COLUMN IF NOT EXISTS extra int
-- next
-- expect: ddl
CREATE INDEX IF NOT EXISTS corpus_scratch_note_idx ON corpus_scratch (note)
-- next
-- expect: ddl
COMMENT ON TABLE corpus_scratch IS 'scratch table for the classifier corpus'
-- next
-- expect: ddl
CREATE OR REPLACE VIEW corpus_view AS SELECT id FROM corpus_scratch
-- next
-- expect: ddl
DROP VIEW IF EXISTS corpus_view
-- next
-- expect: ddl
CREATE SEQUENCE IF NOT EXISTS corpus_seq
-- next
-- expect: ddl
DROP SEQUENCE IF EXISTS corpus_seq
-- next
-- expect: ddl
CREATE TABLE IF NOT EXISTS corpus_copy AS SELECT * FROM items
-- next
-- expect: ddl
SELECT * INTO corpus_into FROM users WHERE false
-- next
-- expect: ddl
DROP TABLE IF EXISTS corpus_into
-- next
-- expect: ddl
TRUNCATE corpus_copy
-- next
-- expect: ddl
DROP TABLE IF EXISTS corpus_copy
-- next
-- expect: ddl
ALTER TABLE corpus_scratch RENAME COLUMN extra TO extra2
-- next
-- expect: ddl
DROP INDEX IF EXISTS corpus_scratch_note_idx
-- next
-- expect: ddl
CREATE OR REPLACE FUNCTION corpus_fn(x int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT x + 1 $$
-- next
-- expect: ddl
DROP FUNCTION IF EXISTS corpus_fn(int)
-- next
-- expect: ddl
CREATE SCHEMA IF NOT EXISTS corpus_schema
-- next
-- expect: ddl
DROP SCHEMA IF EXISTS corpus_schema
-- next
-- expect: ddl
ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'refunded'
-- next
-- expect: ddl
DROP TABLE IF EXISTS corpus_scratch
-- next
-- expect: ddl
ALTER SEQUENCE ticket_seq INCREMENT BY 1
-- next
-- expect: ddl
CREATE ROLE corpus_role NOLOGIN
-- next
-- expect: dcl
GRANT SELECT ON items TO corpus_role
-- next
-- expect: dcl
REVOKE SELECT ON items FROM corpus_role
-- next
-- expect: ddl
DROP ROLE IF EXISTS corpus_role
-- next
-- expect: ddl
CREATE TEMP TABLE corpus_tmp (id int)
-- next
-- expect: ddl
DROP TABLE IF EXISTS corpus_tmp
-- next
-- expect: ddl
CREATE TEMPORARY TABLE corpus_tmp2 AS SELECT 1 AS x
-- next
-- expect: ddl
SELECT 1 AS x INTO TEMP corpus_tmp3
-- next
-- expect: maintenance
VACUUM audit_log
-- next
-- expect: maintenance
VACUUM (ANALYZE) events
-- next
-- expect: maintenance
ANALYZE items
-- next
-- expect: maintenance
ANALYZE
-- next
-- expect: maintenance
REFRESH MATERIALIZED VIEW order_totals
-- next
-- expect: maintenance
REFRESH MATERIALIZED VIEW CONCURRENTLY order_totals
-- next
-- expect: maintenance
CLUSTER orders USING orders_user_id_idx
-- next
-- expect: maintenance
REINDEX TABLE orders
-- next
-- expect: maintenance
CHECKPOINT
-- next
-- expect: procedural
CALL add_event('called')
-- next
-- expect: procedural
DO $$ BEGIN PERFORM 1; END $$
-- next
-- expect: procedural
DO LANGUAGE plpgsql $$ BEGIN RAISE NOTICE 'hi'; END $$
-- next
-- expect: notify
LISTEN corpus_channel
-- next
-- expect: notify
NOTIFY corpus_channel
-- next
-- expect: notify
NOTIFY corpus_channel, 'with payload'
-- next
-- expect: notify
UNLISTEN corpus_channel
-- next
-- expect: notify
UNLISTEN *
-- next
-- expect: session
SET search_path TO public, app
-- next
-- expect: session
SET search_path = "$user", public
-- next
-- expect: session
SET statement_timeout = '5s'
-- next
-- expect: session
SET LOCAL work_mem = '8MB'
-- next
-- expect: session
SET TIME ZONE 'UTC'
-- next
-- expect: session
SET timezone TO 'Europe/Paris'
-- next
-- expect: session
SET application_name = 'corpus'
-- next
-- expect: session
SET datestyle = 'ISO, MDY'
-- next
-- expect: session
SET client_min_messages TO warning
-- next
-- expect: session
SET myapp.tenant = '7'
-- next
-- expect: session
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED
-- next
-- expect: session
RESET statement_timeout
-- next
-- expect: session
RESET search_path
-- next
-- expect: session
RESET ALL
-- next
-- expect: session
DISCARD PLANS
-- next
-- expect: session
DISCARD SEQUENCES
-- next
-- expect: session
PREPARE corpus_q(int) AS SELECT * FROM users WHERE id = $1
-- next
-- expect: execute
EXECUTE corpus_q(1)
-- next
-- expect: session
DEALLOCATE corpus_q
-- next
-- expect: session
PREPARE corpus_ins AS INSERT INTO audit_log (note) VALUES ('prepared')
-- next
-- expect: execute
EXECUTE corpus_ins
-- next
-- expect: session
DEALLOCATE PREPARE corpus_ins
-- next
-- expect: session
DEALLOCATE ALL
-- next
-- expect: session
DISCARD ALL
-- next
-- expect: transaction
BEGIN
-- next
-- expect: transaction
COMMIT
-- next
-- expect: transaction
BEGIN READ ONLY
-- next
-- expect: transaction
ROLLBACK
-- next
-- expect: transaction
START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY
-- next
-- expect: transaction
COMMIT
-- next
-- expect: transaction
BEGIN ISOLATION LEVEL REPEATABLE READ READ WRITE
-- next
-- expect: transaction
SAVEPOINT s1
-- next
-- expect: transaction
RELEASE SAVEPOINT s1
-- next
-- expect: transaction
SAVEPOINT s2
-- next
-- expect: transaction
ROLLBACK TO SAVEPOINT s2
-- next
-- expect: transaction
END
-- next
-- expect: transaction
START TRANSACTION
-- next
-- expect: transaction
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY
-- next
-- expect: transaction
ABORT
-- next
-- expect: transaction
BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE
-- next
-- expect: transaction
COMMIT
-- next
-- expect: multi_statement
BEGIN; SELECT count(*) FROM users; COMMIT
-- next
-- expect: dml
BEGIN; UPDATE items SET stock = stock WHERE id = 1; COMMIT
-- next
-- expect: read
SELECT 1; SELECT 2
