//! The classifier's output types.
//!
//! Everything here is plain data so the proxy can cache, clone and compare
//! results freely; none of it borrows from the SQL text.

/// What a statement (or a whole simple-query text) is, for routing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Class {
    /// Safe on a hot standby inside a `READ ONLY` transaction.
    Read,
    /// Must go to the primary.
    Write(WriteReason),
    /// Session state the proxy tracks and replays on every backend.
    Session(SessionCmd),
    /// Transaction control.
    Transaction(TxCmd),
}

impl Class {
    /// True only for [`Class::Read`]; everything else is routed as if it could write.
    pub fn is_read(&self) -> bool {
        matches!(self, Class::Read)
    }

    /// True for [`Class::Write`].
    pub fn is_write(&self) -> bool {
        matches!(self, Class::Write(_))
    }

    /// True for [`Class::Session`].
    pub fn is_session(&self) -> bool {
        matches!(self, Class::Session(_))
    }

    /// True for [`Class::Transaction`].
    pub fn is_transaction(&self) -> bool {
        matches!(self, Class::Transaction(_))
    }

    /// A bounded label for metrics: `read`, `session`, `transaction`, or the write reason.
    pub fn label(&self) -> &'static str {
        match self {
            Class::Read => "read",
            Class::Write(r) => r.as_str(),
            Class::Session(_) => "session",
            Class::Transaction(_) => "transaction",
        }
    }
}

/// Why a statement must go to the primary. A closed set so it can be a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteReason {
    /// INSERT / UPDATE / DELETE / MERGE, including data-modifying CTEs.
    Dml,
    /// CREATE / ALTER / DROP / TRUNCATE / COMMENT / SELECT INTO / ...
    Ddl,
    /// GRANT / REVOKE / role management.
    Dcl,
    /// VACUUM / ANALYZE / CLUSTER / REINDEX / REFRESH MATERIALIZED VIEW / CHECKPOINT.
    Maintenance,
    /// LOCK TABLE, SELECT ... FOR UPDATE/SHARE, advisory-lock functions.
    Locking,
    /// A call to a function known to be volatile (and not on the read-safe list).
    VolatileFunction,
    /// A call to a function the volatility table does not know.
    UnknownFunction,
    /// CALL / DO: arbitrary server-side code.
    Procedural,
    /// LISTEN / UNLISTEN / NOTIFY.
    Notify,
    /// COPY ... FROM, or COPY to a file/program.
    Copy,
    /// EXECUTE of a prepared statement whose class the caller must look up.
    Execute,
    /// Several statements in one simple query that mix transaction or session
    /// control with other work; see [`Classification::parts`].
    MultiStatement,
    /// sqlparser could not parse the text.
    Unparseable,
    /// Anything else not provably a read.
    Other,
}

impl WriteReason {
    /// Stable snake_case label for metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            WriteReason::Dml => "dml",
            WriteReason::Ddl => "ddl",
            WriteReason::Dcl => "dcl",
            WriteReason::Maintenance => "maintenance",
            WriteReason::Locking => "locking",
            WriteReason::VolatileFunction => "volatile_function",
            WriteReason::UnknownFunction => "unknown_function",
            WriteReason::Procedural => "procedural",
            WriteReason::Notify => "notify",
            WriteReason::Copy => "copy",
            WriteReason::Execute => "execute",
            WriteReason::MultiStatement => "multi_statement",
            WriteReason::Unparseable => "unparseable",
            WriteReason::Other => "other",
        }
    }
}

/// Session-level commands. `SET ROLE` and `SET SESSION AUTHORIZATION` are
/// reported as [`SessionCmd::Set`] with name `role` / `session_authorization`
/// because both are ordinary GUCs that replay correctly as `SET name = value`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SessionCmd {
    /// `SET [LOCAL|SESSION] name = value`. `name` is case-folded like
    /// PostgreSQL does; `value` is SQL text suitable for `SET name = <value>`.
    Set {
        name: String,
        value: String,
        local: bool,
    },
    /// `RESET name` (name case-folded).
    Reset { name: String },
    /// `RESET ALL`.
    ResetAll,
    /// `DISCARD ...`.
    Discard(DiscardKind),
    /// `PREPARE name AS stmt`. `statement` is the classification of the
    /// prepared statement (class and pin), which the proxy stores to resolve
    /// later `EXECUTE name`.
    Prepare {
        name: String,
        statement: Box<Classification>,
    },
    /// `DEALLOCATE [PREPARE] name | ALL`; `None` means ALL.
    Deallocate { name: Option<String> },
    /// `SELECT set_config('name', 'value', false)` alone. `value` is the
    /// plain text, as the function takes it.
    SetConfig { name: String, value: String },
    /// `SET SESSION CHARACTERISTICS AS TRANSACTION ...`.
    SessionCharacteristics { read_only: Option<bool> },
    /// Session-level, but not modelled (e.g. `SET NAMES`).
    Other,
}

/// What a `DISCARD` discards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscardKind {
    All,
    Plans,
    Sequences,
    Temp,
}

/// Transaction control. `read_only` is `Some(true)` for READ ONLY,
/// `Some(false)` for READ WRITE and `None` when no access mode was given.
/// A savepoint's `name` is case-folded like PostgreSQL does, so the proxy
/// can tell which savepoint RELEASE or ROLLBACK TO means. `chain` is set
/// for `COMMIT AND CHAIN`, which opens the next transaction at once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TxCmd {
    Begin { read_only: Option<bool> },
    Commit { chain: bool },
    Rollback,
    Savepoint { name: String },
    Release { name: String },
    RollbackTo { name: String },
    SetTransaction { read_only: Option<bool> },
    PrepareTransaction,
    CommitPrepared,
    RollbackPrepared,
}

/// Statements after which the session must stay on the primary, because
/// they leave state behind that only exists on that backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pin {
    TempTable,
    Listen,
    AdvisoryLock,
    HoldCursor,
    /// A `set_config` call the proxy cannot track (not literal, or inside
    /// a bigger query).
    Setting,
}

impl Pin {
    /// The state stays when the transaction that made it rolls back: a
    /// session advisory lock is held until unlocked or the session ends,
    /// while LISTEN, temporary tables, cursors and settings are undone.
    pub fn outlasts_rollback(self) -> bool {
        matches!(self, Pin::AdvisoryLock)
    }
}

/// A routing hint from a leading `/* pgsplit:primary */` or
/// `/* pgsplit:replica */` comment. The proxy decides whether to honour it;
/// a replica hint on a `Write` should never be followed blindly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hint {
    Primary,
    Replica,
}

/// The full result for one SQL text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Classification {
    /// Overall class of the text (see `classify` for multi-statement rules).
    pub class: Class,
    /// Set when the session must stay on the primary afterwards.
    pub pin: Option<Pin>,
    /// Pins this text ends: `UNLISTEN *` (Listen), `pg_advisory_unlock_all()`
    /// (AdvisoryLock), `CLOSE ALL` (HoldCursor). asyncpg's reset of a pooled
    /// connection sends all three.
    pub unpins: Vec<Pin>,
    /// Further pins of a text with several statements that pin differently
    /// (`pin` holds the first), so ending one does not end the others.
    pub more_pins: Vec<Pin>,
    /// Routing hint found in the leading comments.
    pub hint: Option<Hint>,
    /// `EXECUTE name` (case-folded): the proxy should use the class it
    /// recorded for `PREPARE name` and fall back to `class` when unknown.
    pub execute: Option<String>,
    /// Per-statement classes when the text held more than one statement;
    /// empty for a single statement (so the common case does not allocate).
    pub parts: Vec<Class>,
    /// Calls `lastval()` or `currval()`, which read the sequence state of
    /// the server connection they run on (set by its last `nextval`).
    pub last_value: bool,
    /// The text holds a `*` outside its leading comments (`SELECT *`,
    /// `RETURNING *`, also `count(*)` or a product) or is `TABLE name`:
    /// its result's columns may follow its tables' definitions.
    pub star: bool,
}

impl Classification {
    /// A single-statement result with no pin, hint or EXECUTE target.
    pub fn of(class: Class) -> Self {
        Classification {
            class,
            pin: None,
            unpins: Vec::new(),
            more_pins: Vec::new(),
            hint: None,
            execute: None,
            parts: Vec::new(),
            last_value: false,
            star: false,
        }
    }

    /// Shorthand for `Classification::of(Class::Write(reason))`.
    pub fn write(reason: WriteReason) -> Self {
        Self::of(Class::Write(reason))
    }

    /// Every pin, `pin` first.
    pub fn pins(&self) -> impl Iterator<Item = Pin> + '_ {
        self.pin.into_iter().chain(self.more_pins.iter().copied())
    }

    /// Builder-style pin setter.
    pub fn pinned(mut self, pin: Pin) -> Self {
        self.pin = Some(pin);
        self
    }
}
