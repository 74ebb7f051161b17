-- Schema for tests/data/statements.sql (pgsplit classifier corpus).
-- Load on the primary with: psql -v ON_ERROR_STOP=1 -f schema.sql
-- Idempotent: drops and recreates everything it owns. Plain PostgreSQL 13+.

SET client_min_messages = warning;

DROP SCHEMA IF EXISTS app CASCADE;
DROP TABLE IF EXISTS order_items, orders, items, users, docs, events, audit_log CASCADE;
DROP MATERIALIZED VIEW IF EXISTS order_totals CASCADE;
DROP VIEW IF EXISTS active_users CASCADE;
DROP SEQUENCE IF EXISTS ticket_seq CASCADE;
DROP TYPE IF EXISTS order_status CASCADE;
DROP FUNCTION IF EXISTS price_with_tax(numeric), user_order_count(int), touch_audit(text) CASCADE;
DROP PROCEDURE IF EXISTS add_event(text) CASCADE;

CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped', 'cancelled');

CREATE SEQUENCE ticket_seq START 1000;

CREATE TABLE users (
    id          serial PRIMARY KEY,
    name        text NOT NULL,
    email       text UNIQUE,
    active      boolean NOT NULL DEFAULT true,
    tags        jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE items (
    id     serial PRIMARY KEY,
    sku    text NOT NULL UNIQUE,
    title  text NOT NULL,
    price  numeric(10, 2) NOT NULL CHECK (price >= 0),
    stock  int NOT NULL DEFAULT 0,
    labels text[] NOT NULL DEFAULT '{}'
);

CREATE TABLE orders (
    id          serial PRIMARY KEY,
    user_id     int NOT NULL REFERENCES users (id),
    status      order_status NOT NULL DEFAULT 'new',
    total       numeric(12, 2) NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_user_id_idx ON orders (user_id);

CREATE TABLE order_items (
    order_id  int NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    item_id   int NOT NULL REFERENCES items (id),
    qty       int NOT NULL CHECK (qty > 0),
    PRIMARY KEY (order_id, item_id)
);

CREATE TABLE docs (
    id    serial PRIMARY KEY,
    data  jsonb NOT NULL,
    body  text NOT NULL DEFAULT ''
);

CREATE TABLE events (
    id       bigserial PRIMARY KEY,
    kind     text NOT NULL,
    payload  jsonb,
    at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id    bigserial PRIMARY KEY,
    note  text NOT NULL,
    at    timestamptz NOT NULL DEFAULT now()
);

CREATE VIEW active_users AS SELECT id, name, email FROM users WHERE active;

CREATE MATERIALIZED VIEW order_totals AS
    SELECT user_id, count(*) AS n, sum(total) AS total FROM orders GROUP BY user_id;
CREATE UNIQUE INDEX order_totals_user_idx ON order_totals (user_id);

-- One function of each volatility, used by the corpus.
CREATE FUNCTION price_with_tax(p numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE AS $$ SELECT round(p * 1.2, 2) $$;
CREATE FUNCTION user_order_count(uid int) RETURNS bigint
    LANGUAGE sql STABLE AS $$ SELECT count(*) FROM orders WHERE user_id = uid $$;
CREATE FUNCTION touch_audit(msg text) RETURNS bigint
    LANGUAGE sql VOLATILE AS $$ INSERT INTO audit_log (note) VALUES (msg) RETURNING id $$;
CREATE PROCEDURE add_event(k text)
    LANGUAGE sql AS $$ INSERT INTO events (kind) VALUES (k) $$;

CREATE SCHEMA app;
CREATE TABLE app.settings (key text PRIMARY KEY, value text NOT NULL);

INSERT INTO users (name, email, active, tags) VALUES
    ('alice', 'alice@example.com', true,  '["admin", "beta"]'),
    ('bob',   'bob@example.com',   true,  '["beta"]'),
    ('carol', 'carol@example.com', false, '[]'),
    ('dave',  NULL,                true,  '["vip"]');

INSERT INTO items (sku, title, price, stock, labels) VALUES
    ('A-1', 'Widget', 9.99, 100, '{tools,small}'),
    ('A-2', 'Gadget', 24.50, 20, '{tools}'),
    ('B-1', 'Doohickey', 3.00, 0, '{}'),
    ('B-2', 'Thingamajig', 120.00, 5, '{large,fragile}');

INSERT INTO orders (user_id, status, total, created_at) VALUES
    (1, 'paid', 34.49, now() - interval '2 days'),
    (1, 'new', 9.99, now() - interval '1 hour'),
    (2, 'shipped', 120.00, now() - interval '10 days'),
    (4, 'cancelled', 3.00, now() - interval '3 days');

INSERT INTO order_items (order_id, item_id, qty) VALUES
    (1, 1, 1), (1, 2, 1), (2, 1, 1), (3, 4, 1), (4, 3, 1);

INSERT INTO docs (data, body) VALUES
    ('{"name": "first", "a": {"b": 1}, "n": [1, 2, 3]}', 'the quick brown fox'),
    ('{"name": "second", "a": {"b": 2}, "n": []}', 'jumps over the lazy dog');

INSERT INTO events (kind, payload) VALUES ('login', '{"user": 1}'), ('logout', '{"user": 1}');
INSERT INTO app.settings VALUES ('theme', 'dark'), ('lang', 'en');

REFRESH MATERIALIZED VIEW order_totals;
ANALYZE;
