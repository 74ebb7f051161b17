//! A request in flight on a primary that stopped being one (a failover
//! while the link to it was cut): the connection is reset, so nothing
//! still queued for that server reaches it if the link heals, and the
//! client learns at once that the outcome is unknown (08007).

use super::relay::Relay;
use super::{Session, Slot};
use crate::topology::moved;

impl Session {
    /// Called when the primary moved; acts only if this session's primary
    /// connection owes replies and its backend was superseded.
    pub(super) fn primary_superseded(&mut self, st: &mut Relay) {
        let why = {
            let topology = self.shared.topology.borrow();
            match self.held(Slot::Primary) {
                Some(h) if h.outstanding > 0 => moved::superseded(&topology, &h.conn.addr),
                _ => None,
            }
        };
        let Some(why) = why else {
            return;
        };
        let Some(held) = self.take(Slot::Primary) else {
            return;
        };
        let addr = held.conn.addr.clone();
        if let Err(e) = crate::net::reset_on_close(held.conn.stream.tcp()) {
            tracing::debug!(error = %e, "could not set SO_LINGER before the reset");
        }
        tracing::warn!(
            backend = %addr,
            "request in flight on a superseded primary ({why}): connection reset"
        );
        let message = format!(
            "pgsplit: backend {addr} stopped being the primary ({why}) while this request was \
             in flight there; whether it took effect is unknown, and the connection was reset \
             so nothing more reaches it"
        );
        self.fail_held(st, Slot::Primary, held, "08007", &message);
    }
}
