//! Requests in flight on a backend the topology gave up on (see
//! `topology::abandon`): on a primary that stopped being one, the
//! connection is reset, so nothing still queued for that server reaches it
//! if the link heals, and the client learns at once that the outcome is
//! unknown (08007); on a replica that went down, the read is abandoned
//! (08006) instead of waiting for TCP to give up.

use super::relay::Relay;
use super::{Session, Slot};
use crate::topology::abandon;

impl Session {
    /// Called when the topology changed in a way that may strand requests.
    pub(super) fn abandon_in_flight(&mut self, st: &mut Relay) {
        let stranded = {
            let topology = self.shared.topology.borrow();
            let in_flight = |slot| {
                self.held(slot)
                    .filter(|h| h.outstanding > 0)
                    .map(|h| h.conn.addr.clone())
            };
            [
                in_flight(Slot::Primary).and_then(|addr| {
                    let why = abandon::superseded(&topology, &addr)?;
                    Some((Slot::Primary, "08007", why, addr))
                }),
                in_flight(Slot::Replica)
                    .filter(|addr| abandon::down(&topology, addr))
                    .map(|addr| {
                        let why = "it stopped answering health checks".to_owned();
                        (Slot::Replica, "08006", why, addr)
                    }),
            ]
        };
        for (slot, code, why, addr) in stranded.into_iter().flatten() {
            let Some(held) = self.take(slot) else {
                continue;
            };
            if let Err(e) = crate::net::reset_on_close(held.conn.stream.tcp()) {
                tracing::debug!(error = %e, "could not set SO_LINGER before the reset");
            }
            tracing::warn!(backend = %addr, "request in flight abandoned ({why}): connection reset");
            let message = match slot {
                Slot::Primary => format!(
                    "pgsplit: backend {addr} stopped being the primary ({why}) while this \
                     request was in flight there; whether it took effect is unknown, and the \
                     connection was reset so nothing more reaches it"
                ),
                Slot::Replica => format!(
                    "pgsplit: backend {addr} was taken out of rotation ({why}) while this \
                     request was in flight there; it was abandoned, and a retry goes to \
                     another backend"
                ),
            };
            self.fail_held(st, slot, held, code, &message);
        }
    }
}
