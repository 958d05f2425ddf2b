//! Written events go back to the application's threads to be dropped.
//!
//! An event's strings and boxes are allocated on the thread that recorded it. Freed on
//! the reporter thread instead, they miss glibc's per-thread cache, which is then
//! empty when the application thread allocates again: both sides take the allocator's
//! slow path on every event (about a tenth of a saturated server's CPU in the overhead
//! run). So the reporter hands each event it has written back here, and each event the
//! application hands over takes one spent event with it to drop, on its own thread.

use crossbeam_queue::ArrayQueue;

use crate::model::Event;

/// Spent events held at most; past that the reporter drops them itself. A batch is a
/// few hundred events, and the application takes one back per event it records.
const CAPACITY: usize = 512;

#[derive(Debug)]
pub(crate) struct Spent(ArrayQueue<Event>);

impl Spent {
    pub(crate) fn new() -> Self {
        Spent(ArrayQueue::new(CAPACITY))
    }

    /// The reporter has written `event`: back to the application, or dropped here
    /// when the application is not taking them.
    pub(crate) fn give_back(&self, event: Event) {
        drop(self.0.push(event));
    }

    /// On the application's thread: drops one spent event, if there is one.
    pub(crate) fn drop_one(&self) {
        drop(self.0.pop());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spent_events_are_bounded_and_taken_one_at_a_time() {
        let spent = Spent::new();
        let event = || Event::Metricset(Box::new(crate::testing::samples::maximal_metricset()));
        for _ in 0..CAPACITY + 10 {
            spent.give_back(event());
        }
        assert_eq!(spent.0.len(), CAPACITY);
        spent.drop_one();
        assert_eq!(spent.0.len(), CAPACITY - 1);
    }
}
