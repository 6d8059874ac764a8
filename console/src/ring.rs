//! Bounded buffers: every feed the console keeps (the call log, per-minute counts) lives in one,
//! so a console left running for days holds a fixed amount of memory.

use std::collections::VecDeque;

/// A FIFO that keeps the last `capacity` items, dropping the oldest.
#[derive(Debug, Clone)]
pub struct Ring<T> {
    items: VecDeque<T>,
    capacity: usize,
}

impl<T> Ring<T> {
    /// An empty ring keeping at most `capacity` items (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            items: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
        }
    }

    /// Appends `item`, dropping the oldest when full.
    pub fn push(&mut self, item: T) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    /// How many items are kept.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The most items kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.items.iter()
    }

    /// The newest item, mutably.
    pub fn last_mut(&mut self) -> Option<&mut T> {
        self.items.back_mut()
    }
}

/// Counts of events per lab minute, for the sparklines: the last `capacity` minutes that saw
/// anything.
#[derive(Debug, Clone)]
pub struct MinuteCounts {
    buckets: Ring<(i64, u64)>,
}

impl MinuteCounts {
    /// Keeps the last `minutes` non-empty minutes.
    pub fn new(minutes: usize) -> Self {
        Self {
            buckets: Ring::new(minutes),
        }
    }

    /// Counts one event at `unix_minute` (events arrive in time order; a late one is added to
    /// the newest bucket rather than reordering the ring).
    pub fn add(&mut self, unix_minute: i64, n: u64) {
        match self.buckets.last_mut() {
            Some((minute, count)) if *minute >= unix_minute => *count += n,
            _ => self.buckets.push((unix_minute, n)),
        }
    }

    /// The counts of the `width` minutes ending at `now_minute`, oldest first (0 for quiet minutes).
    pub fn window(&self, now_minute: i64, width: usize) -> Vec<u64> {
        let width_i = i64::try_from(width).unwrap_or(i64::MAX);
        let first = now_minute.saturating_sub(width_i.saturating_sub(1));
        let mut out = vec![0; width];
        for (minute, count) in self.buckets.iter().rev() {
            if *minute < first {
                break;
            }
            if let Some(slot) = usize::try_from(minute - first)
                .ok()
                .and_then(|i| out.get_mut(i))
            {
                *slot += count;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_newest() {
        let mut ring = Ring::new(3);
        for i in 0..5 {
            ring.push(i);
        }
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.capacity(), 3);
    }

    #[test]
    fn minute_counts_fill_quiet_minutes_with_zero() {
        let mut counts = MinuteCounts::new(10);
        counts.add(100, 1);
        counts.add(100, 2);
        counts.add(102, 5);
        counts.add(101, 1); // late: joins the newest bucket
        assert_eq!(counts.window(103, 5), [0, 3, 0, 6, 0]);
        assert_eq!(counts.window(200, 3), [0, 0, 0]);
    }
}
