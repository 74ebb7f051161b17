//! A checked-out connection: dropping it gives it back to its pool.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::checkout::Pool;
use crate::backend::BackendConn;

pub struct Conn {
    /// Always `Some` until dropped or discarded.
    conn: Option<Box<BackendConn>>,
    pool: Arc<Pool>,
}

impl Conn {
    pub(super) fn new(mut conn: Box<BackendConn>, pool: Arc<Pool>) -> Conn {
        conn.lent += 1;
        Conn {
            conn: Some(conn),
            pool,
        }
    }

    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// Closes the connection instead of giving it back (state the pool
    /// cannot vouch for, an error, a fence); its place in the pool frees.
    pub fn discard(mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.discard(conn);
        }
    }
}

impl Deref for Conn {
    type Target = BackendConn;

    fn deref(&self) -> &BackendConn {
        match &self.conn {
            Some(c) => c,
            None => unreachable!("a connection is only taken out when its guard goes"),
        }
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut BackendConn {
        match &mut self.conn {
            Some(c) => c,
            None => unreachable!("a connection is only taken out when its guard goes"),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.give_back(conn);
        }
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.conn.fmt(f)
    }
}
