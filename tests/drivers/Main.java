// PgJDBC through pgsplit in transaction mode (run by tests/drivers.rs).
//
// prepareThreshold=1: from the first use on, PgJDBC prepares statements on
// the server as S_1, S_2, ... on every connection (so the names collide
// across connections with different SQL). Each thread has its own
// connection, search_path and ApplicationName; it runs prepared queries,
// batch inserts and setAutoCommit(false) transactions, and reads its
// writes afterwards. Connection parameters come from PGHOST, PGPORT,
// PGUSER, PGPASSWORD, PGDATABASE. Exits 1 and prints what failed.

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.Properties;

public class Main {
    static final int THREADS = 5;
    static final int ROUNDS = 20;
    static final List<String> failures = Collections.synchronizedList(new ArrayList<>());

    static String url() {
        return "jdbc:postgresql://" + System.getenv("PGHOST") + ":" + System.getenv("PGPORT")
                + "/" + System.getenv("PGDATABASE");
    }

    static Connection connect(String app) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", System.getenv("PGUSER"));
        p.setProperty("password", System.getenv("PGPASSWORD"));
        p.setProperty("prepareThreshold", "1");
        p.setProperty("ApplicationName", app);
        return DriverManager.getConnection(url(), p);
    }

    static void check(String what, Object got, Object want) {
        if (!Objects.equals(got, want)) {
            String f = what + ": got " + got + ", want " + want;
            failures.add(f);
            throw new AssertionError(f);
        }
    }

    static Object one(PreparedStatement ps) throws SQLException {
        try (ResultSet rs = ps.executeQuery()) {
            if (!rs.next()) {
                return null;
            }
            return rs.getObject(1);
        }
    }

    static void setup() throws SQLException {
        try (Connection c = connect("drv-jdbc-setup"); Statement s = c.createStatement()) {
            for (int i = 0; i < THREADS; i++) {
                s.execute("DROP SCHEMA IF EXISTS drv_jdbc_" + i + " CASCADE");
                s.execute("CREATE SCHEMA drv_jdbc_" + i);
                s.execute("CREATE TABLE drv_jdbc_" + i + ".t (v int)");
                s.execute("INSERT INTO drv_jdbc_" + i + ".t VALUES (" + i + ")");
            }
            s.execute("DROP TABLE IF EXISTS drv_jdbc_rows");
            s.execute("CREATE TABLE drv_jdbc_rows (who int, n int)");
        }
    }

    static void worker(int i) throws SQLException {
        String app = "drv-jdbc-" + i;
        try (Connection c = connect(app)) {
            try (Statement s = c.createStatement()) {
                s.execute("SET search_path = drv_jdbc_" + i + ", public");
            }
            PreparedStatement appName = c.prepareStatement("SELECT current_setting('application_name')");
            PreparedStatement path = c.prepareStatement("SELECT current_setting('search_path')");
            // The same text on every thread: search_path decides the table.
            PreparedStatement table = c.prepareStatement("SELECT v FROM t WHERE v >= ?");
            // Different text per thread under the same S_n names.
            PreparedStatement mine = c.prepareStatement("SELECT ?::int * 10 + " + i);
            PreparedStatement count = c.prepareStatement("SELECT count(*) FROM drv_jdbc_rows WHERE who = ?");
            PreparedStatement insert = c.prepareStatement("INSERT INTO drv_jdbc_rows VALUES (?, ?)");
            int rows = 0;
            for (int n = 0; n < ROUNDS; n++) {
                check(app + " application_name", one(appName), app);
                check(app + " search_path", one(path), "drv_jdbc_" + i + ", public");
                table.setInt(1, 0);
                check(app + " SELECT v FROM t (round " + n + ")", one(table), i);
                mine.setInt(1, n);
                check(app + " per-thread statement", one(mine), n * 10 + i);

                // A transaction: BEGIN goes in the same batch as the insert.
                c.setAutoCommit(false);
                insert.setInt(1, i);
                insert.setInt(2, n);
                insert.executeUpdate();
                rows++;
                count.setInt(1, i);
                check(app + " count inside the transaction", one(count), (long) rows);
                c.commit();
                c.setAutoCommit(true);

                if (n % 5 == 0) {
                    // A batch: many Bind/Execute, one Sync.
                    for (int j = 0; j < 10; j++) {
                        insert.setInt(1, i);
                        insert.setInt(2, 1000 + n * 10 + j);
                        insert.addBatch();
                    }
                    int[] done = insert.executeBatch();
                    check(app + " batch size", done.length, 10);
                    rows += 10;
                }
                count.setInt(1, i);
                check(app + " count after commit (round " + n + ")", one(count), (long) rows);
            }
            check(app + " server-prepared", ((org.postgresql.PGStatement) table).isUseServerPrepare(), true);
            // Spring's @Transactional(readOnly = true): BEGIN READ ONLY.
            c.setReadOnly(true);
            c.setAutoCommit(false);
            table.setInt(1, 0);
            check(app + " read-only transaction", one(table), i);
            c.commit();
            c.setAutoCommit(true);
            c.setReadOnly(false);
            // Fetch size: a portal read in chunks (Execute with a row limit).
            c.setAutoCommit(false);
            try (PreparedStatement big = c.prepareStatement("SELECT g FROM generate_series(1, ?) g")) {
                big.setFetchSize(50);
                big.setInt(1, 1000);
                long sum = 0;
                try (ResultSet rs = big.executeQuery()) {
                    while (rs.next()) {
                        sum += rs.getInt(1);
                    }
                }
                check(app + " fetch-size sum", sum, 500500L);
            }
            c.commit();
            c.setAutoCommit(true);
            // A rollback leaves nothing behind.
            c.setAutoCommit(false);
            insert.setInt(1, i);
            insert.setInt(2, -1);
            insert.executeUpdate();
            c.rollback();
            c.setAutoCommit(true);
            count.setInt(1, i);
            check(app + " count after rollback", one(count), (long) rows);
        }
    }

    public static void main(String[] args) throws Exception {
        setup();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < THREADS; i++) {
            final int id = i;
            Thread t = new Thread(() -> {
                try {
                    worker(id);
                } catch (AssertionError e) {
                    // already recorded
                } catch (Exception e) {
                    failures.add("thread " + id + ": " + e);
                }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        if (!failures.isEmpty()) {
            for (String f : failures) {
                System.out.println("FAIL: " + f);
            }
            System.exit(1);
        }
        System.out.println("PgJDBC " + org.postgresql.util.DriverInfo.DRIVER_VERSION + ": "
                + THREADS + " threads x " + ROUNDS + " rounds ok");
    }
}
