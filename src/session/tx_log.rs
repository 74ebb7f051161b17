//! Session commands run inside a transaction wait for its end: SET is
//! transactional, so they are recorded when it commits and forgotten when
//! it rolls back (the server undoes them). Savepoints nest inside it as on
//! the server: `ROLLBACK TO` undoes what was logged after its savepoint,
//! `RELEASE` keeps it.

use crate::classify::{Class, SessionCmd, TxCmd};

/// One change a request made to the state the session tracks, in
/// statement order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// SET, RESET, DISCARD, …: recorded at once outside a transaction,
    /// logged inside one.
    Session(SessionCmd),
    /// `SAVEPOINT name`.
    Savepoint(String),
    /// `RELEASE name`: it and every later savepoint are gone; what was
    /// logged after them stays.
    Release(String),
    /// `ROLLBACK TO name`: what was logged after it is undone; it stays.
    RollbackTo(String),
}

impl Step {
    /// The step a statement of this class is, if any. PREPARE and
    /// DEALLOCATE are none: statements are tracked when sent.
    pub fn of(class: &Class) -> Option<Step> {
        match class {
            Class::Session(SessionCmd::Prepare { .. } | SessionCmd::Deallocate { .. }) => None,
            Class::Session(cmd) => Some(Step::Session(cmd.clone())),
            Class::Transaction(TxCmd::Savepoint { name }) => Some(Step::Savepoint(name.clone())),
            Class::Transaction(TxCmd::Release { name }) => Some(Step::Release(name.clone())),
            Class::Transaction(TxCmd::RollbackTo { name }) => Some(Step::RollbackTo(name.clone())),
            _ => None,
        }
    }
}

/// What the open transaction changed so far.
#[derive(Debug, Default)]
pub struct TxLog {
    /// Session commands that succeeded inside it, in order.
    commands: Vec<SessionCmd>,
    /// Its savepoints, oldest first: the name, and how many commands had
    /// been logged when it was set.
    savepoints: Vec<(String, usize)>,
}

impl TxLog {
    /// Logs a step that succeeded inside the transaction. A savepoint name
    /// the log does not know was set by a request that failed (and so was
    /// not logged); nothing was logged after it, so that step changes nothing.
    pub fn log(&mut self, step: &Step) {
        match step {
            Step::Session(cmd) => self.commands.push(cmd.clone()),
            Step::Savepoint(name) => self.savepoints.push((name.clone(), self.commands.len())),
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
            }
        }
    }

    /// A name may be reused; RELEASE and ROLLBACK TO mean the newest.
    fn newest(&self, name: &str) -> Option<usize> {
        self.savepoints.iter().rposition(|(n, _)| n == name)
    }

    /// The transaction ended: what it logged (to record if it committed).
    pub fn end(&mut self) -> Vec<SessionCmd> {
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

    /// `name=value` is a SET; `savepoint:s`, `release:s` and
    /// `rollback_to:s` are the savepoint commands.
    fn step(word: &str) -> Step {
        match word.split_once(':') {
            Some(("savepoint", s)) => Step::Savepoint(s.into()),
            Some(("release", s)) => Step::Release(s.into()),
            Some(("rollback_to", s)) => Step::RollbackTo(s.into()),
            _ => match word.split_once('=') {
                Some((name, value)) => Step::Session(SessionCmd::Set {
                    name: name.into(),
                    value: value.into(),
                    local: false,
                }),
                None => panic!("not a step: {word}"),
            },
        }
    }

    fn log(log: &mut TxLog, steps: &str) {
        for word in steps.split_whitespace() {
            log.log(&step(word));
        }
    }

    /// What ending the transaction hands over, as `name=value` words.
    fn end(log: &mut TxLog) -> String {
        let words: Vec<String> = log
            .end()
            .iter()
            .map(|c| match c {
                SessionCmd::Set { name, value, .. } => format!("{name}={value}"),
                other => format!("{other:?}"),
            })
            .collect();
        words.join(" ")
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
                "an unknown name (set by a request that failed) changes nothing",
                "a=1 rollback_to:lost release:lost",
                "a=1",
            ),
        ];
        for (what, steps, committed) in cases {
            let mut l = TxLog::default();
            log(&mut l, steps);
            assert_eq!(end(&mut l), committed, "{what}");
        }
    }

    #[test]
    fn end_starts_the_next_transaction_empty() {
        let mut l = TxLog::default();
        log(&mut l, "savepoint:s a=1");
        assert_eq!(end(&mut l), "a=1");
        // The savepoint ended with its transaction.
        log(&mut l, "b=2 rollback_to:s");
        assert_eq!(end(&mut l), "b=2");
        log(&mut l, "savepoint:s c=3");
        l.clear();
        log(&mut l, "rollback_to:s");
        assert_eq!(end(&mut l), "");
    }

    #[test]
    fn steps_of_classes() {
        let tx = |cmd| Step::of(&Class::Transaction(cmd));
        let session = |cmd| Step::of(&Class::Session(cmd));
        let name = || "s".to_owned();
        assert_eq!(
            tx(TxCmd::Savepoint { name: name() }),
            Some(step("savepoint:s"))
        );
        assert_eq!(tx(TxCmd::Release { name: name() }), Some(step("release:s")));
        assert_eq!(
            tx(TxCmd::RollbackTo { name: name() }),
            Some(step("rollback_to:s"))
        );
        assert_eq!(tx(TxCmd::Commit { chain: false }), None);
        assert_eq!(session(SessionCmd::Deallocate { name: None }), None);
        assert_eq!(
            session(SessionCmd::ResetAll),
            Some(Step::Session(SessionCmd::ResetAll))
        );
        assert_eq!(Step::of(&Class::Read), None);
    }
}
