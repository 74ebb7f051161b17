//! Session commands run inside a transaction wait for its end: SET is
//! transactional, so they are recorded when it commits and forgotten when
//! it rolls back (the server undoes them). Savepoints nest inside it as on
//! the server: `ROLLBACK TO` undoes what was logged after its savepoint,
//! `RELEASE` keeps it.
//!
//! One simple Query may hold several statements, transaction control among
//! them, so a request's steps are walked in statement order from the
//! status before it ([`TxLog::walk`]), not judged by the status after it.

use crate::classify::{Class, SessionCmd, TxCmd};
use crate::protocol::TxStatus;

/// One change a request made to the state the session tracks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// SET, RESET, DISCARD, …: logged until the transaction they ran in
    /// (implicit, for a statement outside BEGIN) commits.
    Session(SessionCmd),
    /// `SAVEPOINT name`.
    Savepoint(String),
    /// `RELEASE name`: it and every later savepoint are gone; what was
    /// logged after them stays.
    Release(String),
    /// `ROLLBACK TO name`: what was logged after it is undone; it stays.
    RollbackTo(String),
    /// `COMMIT`, `END`, `PREPARE TRANSACTION` (the session keeps the
    /// prepared transaction's settings as it keeps a committed one's).
    Commit,
    /// `ROLLBACK`, `ABORT`.
    Rollback,
}

impl Step {
    /// The step a statement of this class is, if any. PREPARE and
    /// DEALLOCATE are none: statements are tracked when sent. BEGIN is
    /// none: what ran before it in the same text joins its transaction, so
    /// it changes nothing logged, and whether a transaction is still open
    /// at the end, ReadyForQuery says. `COMMIT PREPARED` and `ROLLBACK
    /// PREPARED` are none: they end another, prepared transaction and
    /// cannot run inside one.
    pub fn of(class: &Class) -> Option<Step> {
        match class {
            Class::Session(SessionCmd::Prepare { .. } | SessionCmd::Deallocate { .. }) => None,
            Class::Session(cmd) => Some(Step::Session(cmd.clone())),
            Class::Transaction(TxCmd::Savepoint { name }) => Some(Step::Savepoint(name.clone())),
            Class::Transaction(TxCmd::Release { name }) => Some(Step::Release(name.clone())),
            Class::Transaction(TxCmd::RollbackTo { name }) => Some(Step::RollbackTo(name.clone())),
            Class::Transaction(TxCmd::Commit { .. } | TxCmd::PrepareTransaction) => {
                Some(Step::Commit)
            }
            Class::Transaction(TxCmd::Rollback) => Some(Step::Rollback),
            _ => None,
        }
    }
}

/// How a request ended, from its replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The transaction status before it (the connection's previous
    /// ReadyForQuery: a deferred BEGIN sent just ahead of the request is
    /// not seen, which changes nothing, BEGIN being no step).
    pub before: TxStatus,
    /// The status its ReadyForQuery reported.
    pub after: TxStatus,
    /// The statement (counted from 0) that failed, if one did: the server
    /// ran the statements before it and skipped the rest.
    pub failed_at: Option<usize>,
}

/// What the open transaction changed so far.
#[derive(Debug, Default)]
pub struct TxLog {
    /// Session commands that ran inside it, in order.
    commands: Vec<SessionCmd>,
    /// Its savepoints, oldest first: the name, and how many commands had
    /// been logged when it was set.
    savepoints: Vec<(String, usize)>,
}

impl TxLog {
    /// Walks what a request did, each step with the statement (counted
    /// from 0) it is in, and returns the session commands now committed,
    /// in order. As on the server:
    ///
    /// - statements outside BEGIN run in an implicit transaction, one per
    ///   text: COMMIT and ROLLBACK end it as they end an explicit one, and
    ///   a BEGIN makes it explicit (what ran before it waits for its end);
    /// - a failed transaction's COMMIT rolls it back, unless a ROLLBACK TO
    ///   repaired it first;
    /// - the server stops at the first error: the steps before it ran;
    ///   then an implicit transaction rolls back, and an explicit one stays
    ///   open, failed (a later ROLLBACK TO a savepoint set before the error
    ///   keeps what was logged before that savepoint).
    ///
    /// What the text leaves logged is committed if the request ends idle
    /// without an error, rolled back if it ends idle after one, and kept if
    /// a transaction is still open.
    pub fn walk(&mut self, steps: &[(usize, Step)], outcome: Outcome) -> Vec<SessionCmd> {
        let mut committed = Vec::new();
        let mut failed = outcome.before == TxStatus::Failed;
        let ran = steps
            .iter()
            .take_while(|(at, _)| outcome.failed_at.is_none_or(|f| *at < f));
        for (_, step) in ran {
            match step {
                Step::Session(cmd) => self.commands.push(cmd.clone()),
                Step::Savepoint(name) => self.savepoints.push((name.clone(), self.commands.len())),
                // A name the log does not know was set where the proxy
                // does not follow steps (a failed extended-protocol batch,
                // a text it could not parse); nothing was logged after
                // it, so that step changes nothing.
                Step::Release(name) => {
                    if let Some(i) = self.newest(name) {
                        self.savepoints.truncate(i);
                    }
                }
                Step::RollbackTo(name) => {
                    if let Some(i) = self.newest(name) {
                        self.commands.truncate(self.savepoints[i].1);
                        self.savepoints.truncate(i + 1);
                    }
                    failed = false;
                }
                Step::Commit | Step::Rollback => {
                    let logged = self.end();
                    if *step == Step::Commit && !failed {
                        committed.extend(logged);
                    }
                    failed = false;
                }
            }
        }
        if outcome.after == TxStatus::Idle {
            let logged = self.end();
            if outcome.failed_at.is_none() && !failed {
                committed.extend(logged);
            }
        }
        committed
    }

    /// A name may be reused; RELEASE and ROLLBACK TO mean the newest.
    fn newest(&self, name: &str) -> Option<usize> {
        self.savepoints.iter().rposition(|(n, _)| n == name)
    }

    /// The transaction ended: what it logged.
    fn end(&mut self) -> Vec<SessionCmd> {
        self.savepoints.clear();
        std::mem::take(&mut self.commands)
    }

    /// The transaction is gone with its connection: nothing it did counts.
    pub fn clear(&mut self) {
        self.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TxStatus::{Failed as E, Idle as I, InTransaction as T};

    /// One word per statement: `name=value` is a SET; `savepoint:s`,
    /// `release:s` and `rollback_to:s` the savepoint commands; `commit` and
    /// `rollback` end a transaction; any other word (`begin`, `select`) is
    /// a statement that is no step. A leading `!` marks the statement that
    /// failed.
    fn steps(text: &str) -> (Vec<(usize, Step)>, Option<usize>) {
        let mut steps = Vec::new();
        let mut failed_at = None;
        for (at, word) in text.split_whitespace().enumerate() {
            let word = match word.strip_prefix('!') {
                Some(w) => {
                    failed_at = Some(at);
                    w
                }
                None => word,
            };
            let step = match word.split_once(':') {
                Some(("savepoint", s)) => Step::Savepoint(s.into()),
                Some(("release", s)) => Step::Release(s.into()),
                Some(("rollback_to", s)) => Step::RollbackTo(s.into()),
                Some(_) => panic!("not a step: {word}"),
                None => match (word, word.split_once('=')) {
                    ("commit", _) => Step::Commit,
                    ("rollback", _) => Step::Rollback,
                    (_, Some((name, value))) => Step::Session(SessionCmd::Set {
                        name: name.into(),
                        value: value.into(),
                        local: false,
                    }),
                    (_, None) => continue,
                },
            };
            steps.push((at, step));
        }
        (steps, failed_at)
    }

    fn words(cmds: &[SessionCmd]) -> String {
        let words: Vec<String> = cmds
            .iter()
            .map(|c| match c {
                SessionCmd::Set { name, value, .. } => format!("{name}={value}"),
                other => format!("{other:?}"),
            })
            .collect();
        words.join(" ")
    }

    /// Walks one request's text between two statuses; returns what it
    /// committed, as `name=value` words.
    fn walk(log: &mut TxLog, before: TxStatus, text: &str, after: TxStatus) -> String {
        let (steps, failed_at) = steps(text);
        let outcome = Outcome {
            before,
            after,
            failed_at,
        };
        words(&log.walk(&steps, outcome))
    }

    /// Requests inside an open transaction that stays open.
    fn log(log: &mut TxLog, text: &str) {
        assert_eq!(walk(log, T, text, T), "");
    }

    /// What ending the transaction hands over, as `name=value` words.
    fn end(log: &mut TxLog) -> String {
        words(&log.end())
    }

    /// Each case checked against PostgreSQL 15 with psql, the text sent as
    /// one simple Query (`psql -c`): what was logged before, the status
    /// before, the text, the status after, what it commits, and what stays
    /// logged.
    #[test]
    fn walks_transaction_control_as_the_server_does() {
        #[rustfmt::skip]
        let cases = [
            ("a SET alone commits", "", I, "a=1", I, "a=1", ""),
            ("an implicit transaction commits whole", "", I, "a=1 select b=2", I, "a=1 b=2", ""),
            ("an implicit transaction rolls back whole", "", I, "a=1 b=2 !select", I, "", ""),
            ("ROLLBACK ends the implicit transaction too", "", I, "a=1 rollback", I, "", ""),
            ("so does COMMIT; what follows is a new one", "", I, "a=1 commit b=2 !select", I, "a=1", ""),
            ("both transactions of a text commit", "", I, "begin a=1 commit b=2", I, "a=1 b=2", ""),
            ("BEGIN takes in what ran before it", "", I, "a=1 begin b=2 rollback", I, "", ""),
            ("... and commits it with the rest", "", I, "a=1 begin b=2 commit", I, "a=1 b=2", ""),
            ("a transaction left open keeps its log", "", I, "begin a=1", T, "", "a=1"),
            ("ROLLBACK later in the same text undoes the SET", "x=0", T, "a=1 rollback", I, "", ""),
            ("ROLLBACK TO in the same text", "", I,
                "begin a=1 savepoint:s b=2 rollback_to:s commit", I, "a=1", ""),
            ("COMMIT first, then an implicit transaction", "x=0", T, "commit a=1", I, "x=0 a=1", ""),
            ("a lone COMMIT needs no step: idle after says it", "x=0", T, "select", I, "x=0", ""),
            ("COMMIT AND CHAIN: committed, and still in a transaction", "x=0", T,
                "commit a=1", T, "x=0", "a=1"),
            ("an error keeps the open transaction's log up to it", "x=0", T,
                "a=1 savepoint:s !select b=2", E, "", "x=0 a=1"),
            ("a failed transaction's COMMIT rolls back", "x=0", E, "commit", I, "", ""),
            ("... also with no step", "x=0", E, "select", I, "", ""),
            ("... and the implicit transaction after it commits", "x=0", E, "commit a=1", I, "a=1", ""),
            ("ROLLBACK TO repairs a failed transaction", "x=0 savepoint:s", E,
                "rollback_to:s a=1 commit", I, "x=0 a=1", ""),
            ("a failed COMMIT rolls back", "x=0", T, "a=1 !commit", I, "", ""),
            ("... and what follows it did not run", "", I, "begin a=1 select !commit b=2", I, "", ""),
            ("an error after COMMIT leaves what it committed", "", I,
                "begin a=1 commit b=2 !select", I, "a=1", ""),
            ("an error at the first statement: nothing ran", "x=0", T, "!a=1", E, "", "x=0"),
            ("an unseen BEGIN (status open after): the log waits", "", I, "a=1", T, "", "a=1"),
        ];
        for (what, logged, before, text, after, committed, left) in cases {
            let mut l = TxLog::default();
            log(&mut l, logged);
            assert_eq!(walk(&mut l, before, text, after), committed, "{what}");
            assert_eq!(end(&mut l), left, "{what}: left logged");
        }
    }

    /// In an open transaction, `SET a; SAVEPOINT s; SELECT 1/0` as one
    /// query, then `ROLLBACK TO s`, then `COMMIT`: the server keeps `a`.
    #[test]
    fn rollback_to_a_savepoint_set_before_an_error_keeps_what_came_before_it() {
        let mut l = TxLog::default();
        assert_eq!(walk(&mut l, T, "a=1 savepoint:s b=2 !select", E), "");
        assert_eq!(walk(&mut l, E, "rollback_to:s", T), "");
        assert_eq!(walk(&mut l, T, "commit", I), "a=1");
    }

    #[test]
    fn savepoint_transitions_match_the_server() {
        let cases = [
            ("no savepoint", "a=1 b=2", "a=1 b=2"),
            (
                "rollback to drops what came after, keeps what came before",
                "a=1 savepoint:s b=2 rollback_to:s",
                "a=1",
            ),
            (
                "the savepoint survives its rollback and can be rolled back to again",
                "savepoint:s a=1 rollback_to:s b=2 rollback_to:s c=3",
                "c=3",
            ),
            (
                "release keeps what came after",
                "savepoint:s a=1 release:s",
                "a=1",
            ),
            (
                "a released inner savepoint's commands go with the outer rollback",
                "savepoint:outer savepoint:inner a=1 release:inner rollback_to:outer",
                "",
            ),
            (
                "rollback to an outer savepoint destroys the inner one",
                "savepoint:outer a=1 savepoint:inner b=2 rollback_to:outer c=3 rollback_to:inner",
                "c=3",
            ),
            (
                "release destroys the later savepoints too",
                "a=1 savepoint:s1 savepoint:s2 b=2 release:s1 rollback_to:s2",
                "a=1 b=2",
            ),
            (
                "a reused name means the newest",
                "savepoint:s a=1 savepoint:s b=2 rollback_to:s",
                "a=1",
            ),
            (
                "releasing the newest uncovers the older one of that name",
                "savepoint:s a=1 savepoint:s b=2 release:s rollback_to:s",
                "",
            ),
            (
                "an unknown name (set where steps are not tracked) changes nothing",
                "a=1 rollback_to:lost release:lost",
                "a=1",
            ),
        ];
        for (what, steps, committed) in cases {
            let mut l = TxLog::default();
            // One statement per request, or all in one: the same.
            for word in steps.split_whitespace() {
                log(&mut l, word);
            }
            assert_eq!(end(&mut l), committed, "{what}");
            log(&mut l, steps);
            assert_eq!(end(&mut l), committed, "{what}, one request");
        }
    }

    #[test]
    fn end_starts_the_next_transaction_empty() {
        let mut l = TxLog::default();
        log(&mut l, "savepoint:s a=1");
        assert_eq!(walk(&mut l, T, "commit", I), "a=1");
        // The savepoint ended with its transaction.
        log(&mut l, "b=2 rollback_to:s");
        assert_eq!(walk(&mut l, T, "commit", I), "b=2");
        log(&mut l, "savepoint:s c=3");
        l.clear();
        log(&mut l, "rollback_to:s");
        assert_eq!(walk(&mut l, T, "commit", I), "");
    }

    #[test]
    fn steps_of_classes() {
        let tx = |cmd| Step::of(&Class::Transaction(cmd));
        let session = |cmd| Step::of(&Class::Session(cmd));
        let name = || "s".to_owned();
        assert_eq!(
            tx(TxCmd::Savepoint { name: name() }),
            Some(Step::Savepoint(name()))
        );
        assert_eq!(
            tx(TxCmd::Release { name: name() }),
            Some(Step::Release(name()))
        );
        assert_eq!(
            tx(TxCmd::RollbackTo { name: name() }),
            Some(Step::RollbackTo(name()))
        );
        assert_eq!(tx(TxCmd::Commit { chain: false }), Some(Step::Commit));
        assert_eq!(tx(TxCmd::Commit { chain: true }), Some(Step::Commit));
        // Checked on the server: the session keeps the prepared
        // transaction's settings.
        assert_eq!(tx(TxCmd::PrepareTransaction), Some(Step::Commit));
        assert_eq!(tx(TxCmd::Rollback), Some(Step::Rollback));
        assert_eq!(tx(TxCmd::Begin { read_only: None }), None);
        assert_eq!(tx(TxCmd::CommitPrepared), None);
        assert_eq!(session(SessionCmd::Deallocate { name: None }), None);
        assert_eq!(
            session(SessionCmd::ResetAll),
            Some(Step::Session(SessionCmd::ResetAll))
        );
        assert_eq!(Step::of(&Class::Read), None);
    }
}
