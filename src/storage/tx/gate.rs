//! The process's fair write queue: threads of one process wait for the single
//! writer connection first come, first served, each with its own deadline.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// A fair (FIFO) mutual-exclusion gate with a deadline: the lock is handed directly
/// to the longest waiter on release, so nobody can overtake.
pub(super) struct FifoGate {
    state: Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    held: bool,
    next_ticket: u64,
    /// The ticket the gate was last handed to, not yet picked up.
    handed_to: Option<u64>,
    queue: VecDeque<(u64, Arc<Condvar>)>,
}

impl FifoGate {
    pub(super) fn new() -> Self {
        FifoGate {
            state: Mutex::new(GateState::default()),
        }
    }

    fn lock_state(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the gate until `deadline`; `false` when the deadline passed.
    pub(super) fn acquire(&self, deadline: Instant) -> bool {
        let mut st = self.lock_state();
        if !st.held && st.queue.is_empty() {
            st.held = true;
            return true;
        }
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        let cv = Arc::new(Condvar::new());
        st.queue.push_back((ticket, cv.clone()));
        loop {
            if st.handed_to == Some(ticket) {
                st.handed_to = None;
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                st.queue.retain(|(t, _)| *t != ticket);
                return false;
            }
            st = cv
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    pub(super) fn release(&self) {
        let mut st = self.lock_state();
        match st.queue.pop_front() {
            Some((ticket, cv)) => {
                st.handed_to = Some(ticket);
                cv.notify_one();
            }
            None => st.held = false,
        }
    }
}
