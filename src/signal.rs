//! One-to-many signals that rarely fire (the drain, `topology::abandon`)
//! and that every session's relay loop checks on nearly every wake-up.
//! Polling a tokio `Notified` takes its `Notify`'s lock each time (about 80
//! instructions, 1% of a select-only transaction), and so does asking a
//! `CancellationToken`. A [`Signal`] counts its firings in an atomic that
//! a waiter reads instead, and an [`Armed`] waiter polls its `Notified`
//! once only, to put the task's waker on the `Notify`'s list: a task's
//! waker is the same for its whole life, so that one registration wakes
//! it when the signal fires.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::futures::OwnedNotified;
use tokio::sync::Notify;

#[derive(Default)]
pub struct Signal {
    notify: Arc<Notify>,
    fired: AtomicU64,
}

impl Signal {
    /// Counted first, so a waiter woken by it sees the new count.
    pub fn fire(&self) {
        self.fired.fetch_add(1, Ordering::AcqRel);
        self.notify.notify_waiters();
    }

    /// Firings so far.
    pub fn count(&self) -> u64 {
        self.fired.load(Ordering::Acquire)
    }

    pub fn fired(&self) -> bool {
        self.count() > 0
    }

    /// Completes at the next firing after it is created.
    pub fn notified(&self) -> OwnedNotified {
        self.notify.clone().notified_owned()
    }

    /// Until the signal has fired (at any time, before or after the call).
    pub async fn wait(&self) {
        loop {
            let next = self.notified();
            if self.fired() {
                return;
            }
            next.await;
        }
    }
}

/// A signal's waiting future, with whether it has registered the waker.
pub struct Armed<F> {
    fut: Pin<Box<F>>,
    registered: bool,
}

impl<F: Future> Armed<F> {
    pub fn new(fut: F) -> Armed<F> {
        Armed {
            fut: Box::pin(fut),
            registered: false,
        }
    }

    /// Ready when `fired` (the signal's atomic state) says so, or when the
    /// one registering poll finds the future already complete.
    pub fn poll_fired(&mut self, cx: &mut Context<'_>, fired: bool) -> Poll<()> {
        if fired {
            return Poll::Ready(());
        }
        if !self.registered {
            self.registered = true;
            if self.fut.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }

    /// Waits for the signal's next firing (after handling one).
    pub fn rearm(&mut self, fut: F) {
        self.fut.set(fut);
        self.registered = false;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A task waiting through `Armed` is woken by a firing that comes long
    /// after its only registering poll.
    #[tokio::test]
    async fn one_registration_wakes_the_task_later() {
        let signal = Arc::new(Signal::default());
        let s = signal.clone();
        let waiter = tokio::spawn(async move {
            let mut armed = Armed::new(s.notified());
            let mut polls = 0;
            std::future::poll_fn(|cx| {
                polls += 1;
                armed.poll_fired(cx, s.fired())
            })
            .await;
            polls
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        signal.fire();
        let polls = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the firing did not wake the task")
            .unwrap();
        assert_eq!(polls, 2, "polled once to register, once when woken");
    }

    #[tokio::test]
    async fn wait_returns_for_a_firing_before_or_after_the_call() {
        let signal = Arc::new(Signal::default());
        let s = signal.clone();
        let waiter = tokio::spawn(async move { s.wait().await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        signal.fire();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("wait() missed the firing")
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), signal.wait())
            .await
            .expect("wait() after the firing did not return");
    }
}
