//! A small linearizability checker (Wing & Gong's search, with Lowe's memo of
//! visited configurations) and the sequential model of one slot's book.
//!
//! A concurrent history is a list of operations, each with the moment it was
//! invoked, the moment it returned and what it returned. It is *linearizable*
//! when the operations can be put in one sequential order that (a) keeps every
//! operation that returned before another was invoked ahead of it, and (b) gives
//! every operation the result the sequential model gives it in that order. If
//! Frontdesk's booking were not serialised — two desks both seeing a slot free and
//! both booking it — no such order exists and [`check`] says so.
//!
//! Operations on different slots are independent, so a history is split per slot
//! ([`partition`]) and each part checked alone; that keeps the search small.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

/// A sequential specification: from a state, does `op` returning `ret` fit, and
/// what is the state after it?
pub trait Model {
    /// The model's state.
    type State: Clone + Eq + Hash;
    /// An operation as invoked.
    type Op;
    /// What it returned.
    type Ret;
    /// The state after `op` returned `ret`, or `None` if the model cannot return that.
    fn step(&self, state: &Self::State, op: &Self::Op, ret: &Self::Ret) -> Option<Self::State>;
}

/// One completed operation of a recorded history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<Op, Ret> {
    /// Which thread ran it (for messages only).
    pub thread: usize,
    /// When it was invoked (any monotonic clock; only the order matters).
    pub invoked: u64,
    /// When it returned (greater than `invoked`).
    pub returned: u64,
    /// The operation.
    pub op: Op,
    /// Its result.
    pub ret: Ret,
}

/// Why a history is not linearizable: the longest prefix order found before the
/// search ran out of options (indices into the history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotLinearizable {
    /// The furthest the search got: a valid order of this many operations.
    pub longest_prefix: Vec<usize>,
}

/// Checks that `history` is linearizable with respect to `model` starting from
/// `init`; on success returns a witness order (indices into `history`).
pub fn check<M: Model>(
    model: &M,
    init: M::State,
    history: &[Event<M::Op, M::Ret>],
) -> Result<Vec<usize>, NotLinearizable> {
    check_counting(model, init, history).0
}

/// [`check`], also returning how many times the search asked the model for a step
/// (the search's work, which the memo keeps from exploding).
pub fn check_counting<M: Model>(
    model: &M,
    init: M::State,
    history: &[Event<M::Op, M::Ret>],
) -> (Result<Vec<usize>, NotLinearizable>, u64) {
    let mut steps = 0u64;
    let n = history.len();
    // Operations sorted by invocation; a candidate to go next must have been
    // invoked before every not-yet-placed operation returned.
    let mut by_invoke: Vec<usize> = (0..n).collect();
    by_invoke.sort_by_key(|&i| (history[i].invoked, history[i].returned));
    let words = n.div_ceil(64).max(1);
    let mut done = vec![0u64; words];
    let is_done = |done: &[u64], i: usize| done[i / 64] & (1 << (i % 64)) != 0;

    let mut seen: HashSet<(Vec<u64>, M::State)> = HashSet::new();
    // Depth-first search with an explicit stack: each frame is (state before the
    // choice, candidates to try, index of the next candidate).
    struct Frame<S> {
        state: S,
        candidates: Vec<usize>,
        next: usize,
    }
    let candidates_of = |done: &[u64]| -> Vec<usize> {
        let horizon = by_invoke
            .iter()
            .filter(|&&i| !is_done(done, i))
            .map(|&i| history[i].returned)
            .min()
            .unwrap_or(u64::MAX);
        by_invoke
            .iter()
            .copied()
            .filter(|&i| !is_done(done, i) && history[i].invoked < horizon)
            .collect()
    };
    let mut order: Vec<usize> = Vec::with_capacity(n);
    let mut longest: Vec<usize> = Vec::new();
    let mut stack = vec![Frame {
        state: init,
        candidates: candidates_of(&done),
        next: 0,
    }];
    loop {
        if order.len() == n {
            return (Ok(order), steps);
        }
        let Some(frame) = stack.last_mut() else {
            return (
                Err(NotLinearizable {
                    longest_prefix: longest,
                }),
                steps,
            );
        };
        if frame.next >= frame.candidates.len() {
            // every choice here failed: undo the choice that led to this frame
            stack.pop();
            if let Some(i) = order.pop() {
                done[i / 64] &= !(1 << (i % 64));
            }
            continue;
        }
        let i = frame.candidates[frame.next];
        frame.next += 1;
        steps += 1;
        let Some(after) = model.step(&frame.state, &history[i].op, &history[i].ret) else {
            continue;
        };
        done[i / 64] |= 1 << (i % 64);
        if !seen.insert((done.clone(), after.clone())) {
            done[i / 64] &= !(1 << (i % 64));
            continue;
        }
        order.push(i);
        if order.len() > longest.len() {
            longest = order.clone();
        }
        let candidates = candidates_of(&done);
        stack.push(Frame {
            state: after,
            candidates,
            next: 0,
        });
    }
}

/// Splits a history by a key (for example the slot), keeping each part in order.
pub fn partition<Op, Ret, K: Eq + Hash + Clone>(
    history: Vec<Event<Op, Ret>>,
    key: impl Fn(&Op) -> K,
) -> HashMap<K, Vec<Event<Op, Ret>>> {
    let mut parts: HashMap<K, Vec<Event<Op, Ret>>> = HashMap::new();
    for e in history {
        parts.entry(key(&e.op)).or_default().push(e);
    }
    parts
}

/// Checks a history of operations on several slots against the slot book, each
/// slot's operations on their own: `Err` names the first slot whose operations
/// have no sequential explanation, and how many there were.
pub fn check_slots(history: Vec<Event<(i64, SlotOp), SlotRet>>) -> Result<(), String> {
    for (slot, events) in partition(history, |op| op.0) {
        let events: Vec<Event<SlotOp, SlotRet>> = events
            .into_iter()
            .map(|e| Event {
                thread: e.thread,
                invoked: e.invoked,
                returned: e.returned,
                op: e.op.1,
                ret: e.ret,
            })
            .collect();
        let n = events.len();
        if let Err(e) = check(&SlotBook, SlotState::default(), &events) {
            return Err(format!(
                "slot {slot}: its {n} operations have no sequential explanation: {e:?}"
            ));
        }
    }
    Ok(())
}

/// What the desk can do to one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotOp {
    /// Book the slot.
    Book,
    /// Cancel the appointment with this id (made on the version seen).
    Cancel(i64),
    /// Look at which appointments hold the slot.
    Look,
    /// Reschedule the appointment with this id into the slot.
    MoveIn(i64),
    /// Reschedule the appointment with this id out of the slot (into another).
    MoveOut(i64),
}

/// What an operation on a slot returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotRet {
    /// Booked; the new appointment's id.
    Booked(i64),
    /// Refused: the slot was taken.
    Taken,
    /// Cancelled.
    Cancelled,
    /// Refused: the appointment was no longer live (stale version, already cancelled).
    NotLive,
    /// The live appointment seen, if any.
    Holder(Option<i64>),
    /// Two (or more) live appointments seen on the slot at once: the first two.
    /// The slot book never holds two, so no history with this is linearizable.
    Holders(i64, i64),
    /// Rescheduled (into or out of the slot).
    Moved,
}

/// The sequential slot book: a slot is free or held by one appointment; booking
/// succeeds iff it is free (with an id never used before), cancelling frees it iff
/// the named appointment holds it.
pub struct SlotBook;

/// The slot book's state: the holder and every id handed out so far (ids are
/// never reused).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SlotState {
    /// The live appointment on the slot.
    pub holder: Option<i64>,
    /// Appointments booked so far, sorted.
    pub used: Vec<i64>,
}

impl Model for SlotBook {
    type State = SlotState;
    type Op = SlotOp;
    type Ret = SlotRet;

    fn step(&self, s: &SlotState, op: &SlotOp, ret: &SlotRet) -> Option<SlotState> {
        match (op, ret) {
            (SlotOp::Book, SlotRet::Booked(id)) if s.holder.is_none() => {
                let at = s.used.binary_search(id).err()?;
                let mut next = s.clone();
                next.used.insert(at, *id);
                next.holder = Some(*id);
                Some(next)
            }
            (SlotOp::Book, SlotRet::Taken) if s.holder.is_some() => Some(s.clone()),
            (SlotOp::Cancel(id), SlotRet::Cancelled) if s.holder == Some(*id) => Some(SlotState {
                holder: None,
                used: s.used.clone(),
            }),
            (SlotOp::Cancel(id), SlotRet::NotLive) if s.holder != Some(*id) => Some(s.clone()),
            (SlotOp::Look, SlotRet::Holder(h)) if *h == s.holder => Some(s.clone()),
            // an appointment moving in keeps its id (it was booked elsewhere)
            (SlotOp::MoveIn(id), SlotRet::Moved) if s.holder.is_none() => Some(SlotState {
                holder: Some(*id),
                used: s.used.clone(),
            }),
            (SlotOp::MoveIn(_), SlotRet::Taken) if s.holder.is_some() => Some(s.clone()),
            (SlotOp::MoveOut(id), SlotRet::Moved) if s.holder == Some(*id) => Some(SlotState {
                holder: None,
                used: s.used.clone(),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(
        thread: usize,
        invoked: u64,
        returned: u64,
        op: SlotOp,
        ret: SlotRet,
    ) -> Event<SlotOp, SlotRet> {
        Event {
            thread,
            invoked,
            returned,
            op,
            ret,
        }
    }

    #[test]
    fn a_sequential_history_that_follows_the_model_is_accepted() {
        let h = vec![
            ev(0, 1, 2, SlotOp::Book, SlotRet::Booked(7)),
            ev(1, 3, 4, SlotOp::Book, SlotRet::Taken),
            ev(1, 5, 6, SlotOp::Cancel(7), SlotRet::Cancelled),
            ev(0, 7, 8, SlotOp::Look, SlotRet::Holder(None)),
            ev(0, 9, 10, SlotOp::Book, SlotRet::Booked(9)),
        ];
        assert_eq!(
            check(&SlotBook, SlotState::default(), &h),
            Ok(vec![0, 1, 2, 3, 4])
        );
    }

    #[test]
    fn overlapping_operations_may_take_effect_in_either_order() {
        // the refusal returned first, but the two overlap: the booking can go first
        let h = vec![
            ev(0, 1, 10, SlotOp::Book, SlotRet::Booked(1)),
            ev(1, 2, 5, SlotOp::Book, SlotRet::Taken),
        ];
        assert_eq!(check(&SlotBook, SlotState::default(), &h), Ok(vec![0, 1]));
    }

    #[test]
    fn two_successful_bookings_of_one_slot_are_rejected() {
        // the double booking Frontdesk exists to prevent, overlapping or not
        let h = vec![
            ev(0, 1, 5, SlotOp::Book, SlotRet::Booked(1)),
            ev(1, 2, 6, SlotOp::Book, SlotRet::Booked(2)),
        ];
        assert!(
            check(&SlotBook, SlotState::default(), &h).is_err(),
            "double booking must not be linearizable"
        );
    }

    #[test]
    fn a_refusal_that_finished_before_any_booking_started_is_rejected() {
        // "taken" although nobody could have held the slot yet: a stale read
        let h = vec![
            ev(1, 1, 2, SlotOp::Book, SlotRet::Taken),
            ev(0, 3, 4, SlotOp::Book, SlotRet::Booked(1)),
        ];
        let err = check(&SlotBook, SlotState::default(), &h).unwrap_err();
        assert!(
            err.longest_prefix.is_empty(),
            "nothing can go first: {err:?}"
        );
    }

    #[test]
    fn a_lost_cancellation_is_rejected() {
        // cancelled, then (strictly later) someone still sees the old holder
        let h = vec![
            ev(0, 1, 2, SlotOp::Book, SlotRet::Booked(1)),
            ev(0, 3, 4, SlotOp::Cancel(1), SlotRet::Cancelled),
            ev(1, 5, 6, SlotOp::Look, SlotRet::Holder(Some(1))),
        ];
        let err = check(&SlotBook, SlotState::default(), &h).unwrap_err();
        assert_eq!(err.longest_prefix, vec![0, 1], "the look cannot be placed");
    }

    #[test]
    fn an_appointment_id_is_never_handed_out_twice() {
        let h = vec![
            ev(0, 1, 2, SlotOp::Book, SlotRet::Booked(1)),
            ev(0, 3, 4, SlotOp::Cancel(1), SlotRet::Cancelled),
            ev(0, 5, 6, SlotOp::Book, SlotRet::Booked(1)),
        ];
        assert!(check(&SlotBook, SlotState::default(), &h).is_err());
    }

    #[test]
    fn a_large_concurrent_history_is_checked_quickly() {
        // 8 threads, 300 rounds of fully overlapping book attempts where exactly
        // one wins and then cancels: the memo keeps the search polynomial
        let mut h = Vec::new();
        let mut t = 0u64;
        for round in 0..300i64 {
            let start = t;
            for th in 0..8usize {
                let ret = if th == (round as usize % 8) {
                    SlotRet::Booked(round + 1)
                } else {
                    SlotRet::Taken
                };
                h.push(ev(
                    th,
                    start + th as u64,
                    start + 20 + th as u64,
                    SlotOp::Book,
                    ret,
                ));
            }
            h.push(ev(
                round as usize % 8,
                start + 30,
                start + 31,
                SlotOp::Cancel(round + 1),
                SlotRet::Cancelled,
            ));
            t += 40;
        }
        let (verdict, steps) = check_counting(&SlotBook, SlotState::default(), &h);
        assert!(verdict.is_ok());
        // work, not time: without the memo the search tries the 8 overlapping
        // attempts of a round in every order; with it, each configuration once
        let n = h.len() as u64;
        assert!(
            steps <= 8 * n,
            "{steps} model steps for {n} operations: the search is not near-linear"
        );
    }

    #[test]
    fn moves_follow_the_slot_book() {
        let h = vec![
            ev(0, 1, 2, SlotOp::Book, SlotRet::Booked(1)),
            ev(1, 3, 4, SlotOp::MoveOut(1), SlotRet::Moved),
            ev(0, 5, 6, SlotOp::MoveIn(7), SlotRet::Moved),
            ev(1, 7, 8, SlotOp::MoveIn(8), SlotRet::Taken),
            ev(0, 9, 10, SlotOp::Look, SlotRet::Holder(Some(7))),
        ];
        assert_eq!(
            check(&SlotBook, SlotState::default(), &h),
            Ok(vec![0, 1, 2, 3, 4])
        );
    }

    #[test]
    fn a_move_into_a_held_slot_or_out_of_a_slot_not_held_is_rejected() {
        let into_held = vec![
            ev(0, 1, 2, SlotOp::Book, SlotRet::Booked(1)),
            ev(1, 3, 4, SlotOp::MoveIn(2), SlotRet::Moved),
        ];
        assert!(check(&SlotBook, SlotState::default(), &into_held).is_err());
        let out_of_free = vec![ev(0, 1, 2, SlotOp::MoveOut(1), SlotRet::Moved)];
        assert!(check(&SlotBook, SlotState::default(), &out_of_free).is_err());
        let refused_while_free = vec![ev(0, 1, 2, SlotOp::MoveIn(1), SlotRet::Taken)];
        assert!(check(&SlotBook, SlotState::default(), &refused_while_free).is_err());
    }

    #[test]
    fn seeing_two_holders_is_never_linearizable() {
        // whatever the bookings around it, the book holds one appointment at most
        let h = vec![
            ev(0, 1, 10, SlotOp::Book, SlotRet::Booked(1)),
            ev(2, 3, 8, SlotOp::Look, SlotRet::Holders(1, 2)),
        ];
        assert!(check(&SlotBook, SlotState::default(), &h).is_err());
        let alone = vec![ev(2, 3, 8, SlotOp::Look, SlotRet::Holders(1, 2))];
        assert!(check(&SlotBook, SlotState::default(), &alone).is_err());
    }

    #[test]
    fn partition_splits_by_key_and_keeps_order() {
        let e = |invoked: u64, key: u8| Event {
            thread: 0,
            invoked,
            returned: invoked + 1,
            op: key,
            ret: (),
        };
        let h = vec![e(1, 1), e(3, 2), e(5, 1)];
        let parts = partition(h, |op| *op);
        assert_eq!(
            parts[&1].iter().map(|e| e.invoked).collect::<Vec<_>>(),
            vec![1, 5]
        );
        assert_eq!(parts[&2].len(), 1);
    }
}
