//! The objects that exist during a mixed run. Reads check an object out and
//! back in; a delete only takes an object no read holds, and takes it out of
//! the set before deleting it, so no GET or HEAD ever races its own DELETE
//! (a 404 in a mixed run is a real error, not the workload's doing).

use std::collections::HashMap;

use rand::{Rng, RngExt};

#[derive(Default)]
pub struct LiveSet {
    ids: Vec<u64>,
    readers: HashMap<u64, u32>,
}

impl LiveSet {
    pub fn new(ids: impl IntoIterator<Item = u64>) -> Self {
        LiveSet { ids: ids.into_iter().collect(), readers: HashMap::new() }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.ids.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Adds an object just written.
    pub fn insert(&mut self, id: u64) {
        self.ids.push(id);
    }

    /// Picks an object to read; it cannot be deleted until [`check_in`](Self::check_in).
    pub fn check_out(&mut self, rng: &mut impl Rng) -> Option<u64> {
        if self.ids.is_empty() {
            return None;
        }
        let id = self.ids[rng.random_range(0..self.ids.len())];
        *self.readers.entry(id).or_default() += 1;
        Some(id)
    }

    pub fn check_in(&mut self, id: u64) {
        if let Some(n) = self.readers.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                self.readers.remove(&id);
            }
        }
    }

    /// Removes an object no one is reading, to delete it. A few random picks
    /// are tried; `None` when they are all being read (or the set is empty).
    pub fn take_for_delete(&mut self, rng: &mut impl Rng) -> Option<u64> {
        for _ in 0..8 {
            if self.ids.is_empty() {
                return None;
            }
            let index = rng.random_range(0..self.ids.len());
            if !self.readers.contains_key(&self.ids[index]) {
                return Some(self.ids.swap_remove(index));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::Xoshiro256PlusPlus;

    use super::*;

    #[test]
    fn an_object_being_read_is_never_taken_for_delete() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let mut set = LiveSet::new([1, 2]);
        let read = set.check_out(&mut rng).expect("not empty");
        let other = if read == 1 { 2 } else { 1 };
        assert_eq!(set.take_for_delete(&mut rng), Some(other));
        // Only the object being read is left: nothing can be deleted.
        assert_eq!(set.take_for_delete(&mut rng), None);
        set.check_in(read);
        assert_eq!(set.take_for_delete(&mut rng), Some(read));
        assert!(set.is_empty());
        assert_eq!(set.check_out(&mut rng), None);
    }

    #[test]
    fn reads_nest() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
        let mut set = LiveSet::new([7]);
        assert_eq!(set.check_out(&mut rng), Some(7));
        assert_eq!(set.check_out(&mut rng), Some(7));
        set.check_in(7);
        assert_eq!(set.take_for_delete(&mut rng), None);
        set.check_in(7);
        assert_eq!(set.take_for_delete(&mut rng), Some(7));
        set.insert(9);
        assert_eq!(set.len(), 1);
    }
}
