//! One rebalance: moves partition-replicas so the assignment follows the plan
//! (crate::plan), moving as few as it can and never more than one old replica
//! of a partition.
//!
//! Works on device indexes (positions in the builder's device list) and a
//! partition-major table. Four phases, in order (docs/design.md, "Rebalance"):
//! replicas on removed devices, empty slots, crowded partitions (dispersion),
//! then balance moves from devices above their target to devices below it.

use crate::plan::{NO_TIER, Plan};

/// An empty slot.
pub(crate) const NONE: u32 = u32::MAX;
/// `changed[p]` when no old replica of partition `p` has moved yet.
const UNCHANGED: u8 = u8::MAX;
/// Replicas are at most 16 (crate::MAX_REPLICAS).
const MAX_HOLDERS: usize = 16;

pub(crate) struct Input<'a> {
    pub plan: &'a Plan,
    pub replicas: usize,
    pub partitions: usize,
    /// `table[p * replicas + r]`: device index or [`NONE`].
    pub table: Vec<u32>,
    /// Per device: being removed (its replicas move regardless of the time gate).
    pub removed: Vec<bool>,
    /// Per partition: min_part_hours have passed since it last moved.
    pub gate_open: Vec<bool>,
    /// Varies where balance moves start scanning, from one rebalance to the next.
    pub seed: u64,
}

pub(crate) struct Outcome {
    pub table: Vec<u32>,
    /// Partitions one of whose old replicas moved.
    pub changed: Vec<u32>,
    /// Old replicas moved to another device.
    pub moved: u64,
    /// Empty slots filled.
    pub assigned: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Place the replica somewhere: as dispersed as possible, then where most wanted.
    Must,
    /// Place it only where no region, zone or node goes above its cap.
    Disperse,
    /// Place it only within caps and on a device (and domains) below target.
    Balance,
}

/// How good a destination is; see [`Score::better_than`].
#[derive(Clone, Copy)]
struct Score {
    /// The domain holds fewer replicas of the partition than its floor.
    below_floor: bool,
    /// Holding this replica would put the domain above its cap.
    over_cap: bool,
    /// Replicas of the partition already there (compared only when over cap).
    crowd: u32,
    /// Missing partition-replicas relative to the target.
    want: f64,
}

impl Score {
    fn better_than(&self, other: &Score) -> bool {
        if self.below_floor != other.below_floor {
            return self.below_floor;
        }
        if self.over_cap != other.over_cap {
            return !self.over_cap;
        }
        if self.crowd != other.crowd {
            return self.crowd < other.crowd;
        }
        self.want > other.want
    }
}

/// The partition's other replicas, for one placement decision.
struct Ctx {
    holders: [u32; MAX_HOLDERS],
    n_holders: usize,
    /// The device the replica leaves (or NONE): its domains gain room.
    leaving: u32,
    /// Per level, the domain the replica must stay in because leaving it
    /// would take it below its floor (or a domain inside it would), else NONE.
    pinned: [u32; 3],
    mode: Mode,
}

impl Ctx {
    fn holders(&self) -> &[u32] {
        &self.holders[..self.n_holders]
    }
}

struct Engine<'a> {
    plan: &'a Plan,
    r: usize,
    parts: usize,
    table: Vec<u32>,
    original: Vec<u32>,
    changed: Vec<u8>,
    removed: Vec<bool>,
    gate_open: Vec<bool>,
    dev_parts: Vec<i64>,
    tier_parts: Vec<i64>,
}

pub(crate) fn run(input: Input<'_>) -> Outcome {
    let Input { plan, replicas, partitions, table, removed, gate_open, seed } = input;
    let mut e = Engine {
        plan,
        r: replicas,
        parts: partitions,
        original: table.clone(),
        table,
        changed: vec![UNCHANGED; partitions],
        removed,
        gate_open,
        dev_parts: vec![0; plan.dev_active.len()],
        tier_parts: vec![0; plan.tiers.len()],
    };
    for i in 0..e.table.len() {
        let d = e.table[i];
        if d != NONE {
            e.count(d, 1);
        }
    }
    e.drain_removed();
    e.fill_empty();
    e.disperse();
    e.balance(seed);
    e.finish()
}

impl Engine<'_> {
    fn count(&mut self, dev: u32, delta: i64) {
        self.dev_parts[dev as usize] += delta;
        for t in self.plan.dev_tiers[dev as usize] {
            if t != NO_TIER {
                self.tier_parts[t as usize] += delta;
            }
        }
    }

    /// Whether slot `r` of partition `p` may change in this rebalance: empty
    /// slots always; otherwise only the one old replica of the partition that
    /// moves this time, and only once min_part_hours have passed (or its
    /// device is being removed).
    fn can_change(&self, p: usize, r: usize) -> bool {
        let slot = p * self.r + r;
        let original = self.original[slot];
        if original == NONE {
            return true;
        }
        match self.changed[p] {
            UNCHANGED => self.gate_open[p] || self.removed[original as usize],
            c => usize::from(c) == r,
        }
    }

    fn set(&mut self, p: usize, r: usize, dev: u32) {
        let slot = p * self.r + r;
        let old = self.table[slot];
        if old != NONE {
            self.count(old, -1);
        }
        self.table[slot] = dev;
        self.count(dev, 1);
        if self.original[slot] != NONE {
            self.changed[p] = if dev == self.original[slot] { UNCHANGED } else { r as u8 };
        }
    }

    fn ctx(&self, p: usize, r: usize, mode: Mode) -> Ctx {
        let mut ctx =
            Ctx { holders: [NONE; MAX_HOLDERS], n_holders: 0, leaving: NONE, pinned: [NONE; 3], mode };
        for s in 0..self.r {
            let d = self.table[p * self.r + s];
            if s == r {
                ctx.leaving = d;
            } else if d != NONE {
                ctx.holders[ctx.n_holders] = d;
                ctx.n_holders += 1;
            }
        }
        if ctx.leaving != NONE {
            let tiers = self.plan.dev_tiers[ctx.leaving as usize];
            let deepest = (0..3).rev().find(|&level| {
                let t = tiers[level];
                t != NO_TIER && self.crowd(&ctx, level, t) < self.plan.tiers[t as usize].floor
            });
            if let Some(deepest) = deepest {
                ctx.pinned[..=deepest].copy_from_slice(&tiers[..=deepest]);
            }
        }
        ctx
    }

    /// A device for slot `r` of partition `p` under `mode`, walking the tree
    /// from the regions down and backtracking out of domains where every
    /// device is unusable.
    fn find_device(&self, p: usize, r: usize, mode: Mode) -> Option<u32> {
        let ctx = self.ctx(p, r, mode);
        self.pick(&ctx, 0, &self.plan.regions)
    }

    /// A device for a replica that must be placed: below target and within
    /// caps if any device is, else within caps, else anywhere distinct. (The
    /// greedy `Must` walk alone would settle in the first domain that wants
    /// partitions even when only devices already holding the partition there
    /// are below target.)
    fn place(&self, p: usize, r: usize) -> Option<u32> {
        self.find_device(p, r, Mode::Balance)
            .or_else(|| self.find_device(p, r, Mode::Disperse))
            .or_else(|| self.find_device(p, r, Mode::Must))
    }

    fn pick(&self, ctx: &Ctx, level: usize, candidates: &[u32]) -> Option<u32> {
        // A domain fails only if it holds another replica of the partition,
        // so at most `replicas` candidates (and a pinned one) fail per level.
        let mut failed = [NONE; MAX_HOLDERS + 2];
        let mut n_failed = 0;
        // A replica that must stay in its domain may only go there (`Must`
        // tries there first).
        let mut pin = if level < 3 { ctx.pinned[level] } else { NONE };
        if pin != NONE && !candidates.contains(&pin) {
            // The walk started below the pinned domain's level, elsewhere.
            if ctx.mode != Mode::Must {
                return None;
            }
            pin = NONE;
        }
        if pin != NONE {
            if self.tier_score(ctx, level, pin).is_some()
                && let Some(d) = self.pick(ctx, level + 1, &self.plan.tiers[pin as usize].children)
            {
                return Some(d);
            }
            if ctx.mode != Mode::Must {
                return None;
            }
            failed[0] = pin;
            n_failed = 1;
        }
        // When a domain here lacks a replica it must have (below its floor),
        // moves that keep dispersion may only go there; `Must` prefers it.
        let floor_first = level < 3
            && pin == NONE
            && ctx.mode != Mode::Must
            && candidates.iter().any(|&c| self.crowd(ctx, level, c) < self.plan.tiers[c as usize].floor);
        loop {
            let mut best: Option<(u32, Score)> = None;
            for &c in candidates {
                if failed[..n_failed].contains(&c) {
                    continue;
                }
                let score =
                    if level == 3 { self.device_score(ctx, c) } else { self.tier_score(ctx, level, c) };
                if let Some(score) = score
                    && (!floor_first || score.below_floor)
                    && best.is_none_or(|(_, b)| score.better_than(&b))
                {
                    best = Some((c, score));
                }
            }
            let (chosen, _) = best?;
            if level == 3 {
                return Some(chosen);
            }
            if let Some(d) = self.pick(ctx, level + 1, &self.plan.tiers[chosen as usize].children) {
                return Some(d);
            }
            if n_failed == failed.len() {
                return None;
            }
            failed[n_failed] = chosen;
            n_failed += 1;
        }
    }

    /// Replicas of the partition (other than the one being placed) in tier `t`.
    fn crowd(&self, ctx: &Ctx, level: usize, t: u32) -> u32 {
        ctx.holders().iter().filter(|&&h| self.plan.dev_tiers[h as usize][level] == t).count() as u32
    }

    fn tier_score(&self, ctx: &Ctx, level: usize, t: u32) -> Option<Score> {
        let tier = &self.plan.tiers[t as usize];
        let crowd = self.crowd(ctx, level, t);
        let over_cap = crowd >= tier.cap;
        let frees = ctx.leaving != NONE && self.plan.dev_tiers[ctx.leaving as usize][level] == t;
        let missing = tier.target as i64 - self.tier_parts[t as usize] + i64::from(frees);
        match ctx.mode {
            // Entering a domain needs room below its target; moving within
            // the domain the replica leaves does not change its count.
            Mode::Balance if over_cap || (!frees && missing <= 0) => return None,
            Mode::Disperse if over_cap => return None,
            _ => {}
        }
        Some(Score {
            below_floor: crowd < tier.floor,
            over_cap,
            crowd: if over_cap { crowd } else { 0 },
            want: missing as f64 / tier.target.max(1) as f64,
        })
    }

    fn device_score(&self, ctx: &Ctx, d: u32) -> Option<Score> {
        let i = d as usize;
        if !self.plan.dev_active[i] || d == ctx.leaving || ctx.holders().contains(&d) {
            return None;
        }
        let target = self.plan.dev_target[i] as i64;
        let missing = target - self.dev_parts[i];
        if ctx.mode == Mode::Balance && missing <= 0 {
            return None;
        }
        Some(Score {
            below_floor: false,
            over_cap: false,
            crowd: 0,
            want: missing as f64 / target.max(1) as f64,
        })
    }

    /// Whether device `d` may take slot `r` of partition `p` without
    /// repeating a device or going above a region, zone or node cap.
    fn fits(&self, p: usize, r: usize, d: u32) -> bool {
        self.accepts(p, r, d, Mode::Disperse)
    }

    /// Whether device `d` may take slot `r` of `p` under `mode`'s rules
    /// (caps, pins, and for `Balance` room below target all the way down).
    fn accepts(&self, p: usize, r: usize, d: u32, mode: Mode) -> bool {
        let ctx = self.ctx(p, r, mode);
        if self.device_score(&ctx, d).is_none() {
            return false;
        }
        (0..3).all(|level| {
            let t = self.plan.dev_tiers[d as usize][level];
            t != NO_TIER
                && (ctx.pinned[level] == NONE || ctx.pinned[level] == t)
                && self.tier_score(&ctx, level, t).is_some()
        })
    }

    /// Phase 1: replicas on removed devices go elsewhere (one per partition;
    /// the rest wait for the next rebalance).
    ///
    /// When no device below target can take a replica, an earlier replica of
    /// this phase that sits on a device that could is moved on to another
    /// device below target, freeing its place (an augmenting path of length
    /// two); that replica was moving anyway, so this costs no extra move,
    /// where settling on a full device would later cost one.
    fn drain_removed(&mut self) {
        let mut placed: Vec<(usize, usize)> = Vec::new();
        for p in 0..self.parts {
            for r in 0..self.r {
                let d = self.table[p * self.r + r];
                if d == NONE || !self.removed[d as usize] || !self.can_change(p, r) {
                    continue;
                }
                let dev = self
                    .find_device(p, r, Mode::Balance)
                    .or_else(|| self.make_room(p, r, &placed))
                    .or_else(|| self.find_device(p, r, Mode::Disperse))
                    .or_else(|| self.find_device(p, r, Mode::Must));
                if let Some(dev) = dev {
                    self.set(p, r, dev);
                    placed.push((p, r));
                }
            }
        }
    }

    /// Looks (most recent first, a bounded number) for a replica placed in
    /// this phase whose device fits slot `r` of `p` and which can itself move
    /// to a device below target; moves it and returns the freed device.
    fn make_room(&mut self, p: usize, r: usize, placed: &[(usize, usize)]) -> Option<u32> {
        const MAX_TRIES: usize = 4096;
        for &(q, s) in placed.iter().rev().take(MAX_TRIES) {
            let d = self.table[q * self.r + s];
            if q == p || !self.fits(p, r, d) {
                continue;
            }
            if let Some(other) = self.find_device(q, s, Mode::Balance) {
                self.set(q, s, other);
                return Some(d);
            }
        }
        None
    }

    /// Phase 2: empty slots (all of them on the first rebalance).
    fn fill_empty(&mut self) {
        for p in 0..self.parts {
            for r in 0..self.r {
                if self.table[p * self.r + r] == NONE
                    && let Some(dev) = self.place(p, r)
                {
                    self.set(p, r, dev);
                }
            }
        }
    }

    /// Replicas of partition `p` in tier `t` (of level `level`).
    fn count_in(&self, p: usize, level: usize, t: u32) -> u32 {
        self.table[p * self.r..(p + 1) * self.r]
            .iter()
            .filter(|&&d| d != NONE && self.plan.dev_tiers[d as usize][level] == t)
            .count() as u32
    }

    /// How much a device is above its target, relative to it.
    fn excess_ratio(&self, d: u32) -> f64 {
        let target = self.plan.dev_target[d as usize] as f64;
        (self.dev_parts[d as usize] as f64 - target) / target.max(1.0)
    }

    /// The slots of `p` that could move for dispersion: those in a region,
    /// zone or node holding more replicas of `p` than its cap. Slots whose
    /// leaving takes no domain below its floor come first, then the device
    /// furthest above its target. Empty if `p` is not crowded.
    fn crowded_slots(&self, p: usize) -> Vec<usize> {
        let mut slots: Vec<(usize, bool, f64)> = Vec::new();
        for r in 0..self.r {
            let d = self.table[p * self.r + r];
            if d == NONE || !self.can_change(p, r) {
                continue;
            }
            let tiers = self.plan.dev_tiers[d as usize];
            let crowded = (0..3).any(|level| {
                let t = tiers[level];
                t != NO_TIER && self.count_in(p, level, t) > self.plan.tiers[t as usize].cap
            });
            if crowded {
                let free = self.ctx(p, r, Mode::Disperse).pinned.iter().all(|&t| t == NONE);
                slots.push((r, free, self.excess_ratio(d)));
            }
        }
        slots.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.total_cmp(&a.2)));
        slots.into_iter().map(|(r, _, _)| r).collect()
    }

    /// A domain lacking a replica of `p` it must have (below its floor), and
    /// the slots that could move there: those in a domain of the same level
    /// that can spare one, the device furthest above target first.
    fn thin_slots(&self, p: usize) -> Option<(u32, Vec<usize>)> {
        let thin = self.plan.floored.iter().copied().find(|&t| {
            let tier = &self.plan.tiers[t as usize];
            self.count_in(p, usize::from(tier.level), t) < tier.floor
        })?;
        let level = usize::from(self.plan.tiers[thin as usize].level);
        let mut slots: Vec<(usize, f64)> = (0..self.r)
            .filter_map(|r| {
                let d = self.table[p * self.r + r];
                if d == NONE || !self.can_change(p, r) {
                    return None;
                }
                let t = self.plan.dev_tiers[d as usize][level];
                let spare = t == NO_TIER || self.count_in(p, level, t) > self.plan.tiers[t as usize].floor;
                spare.then(|| (r, self.excess_ratio(d)))
            })
            .collect();
        slots.sort_by(|a, b| b.1.total_cmp(&a.1));
        Some((thin, slots.into_iter().map(|(r, _)| r).collect()))
    }

    /// A device inside tier `t` for slot `r` of `p`, if `t`'s enclosing
    /// domains have room under their caps.
    fn find_device_in(&self, p: usize, r: usize, t: u32) -> Option<u32> {
        let ctx = self.ctx(p, r, Mode::Disperse);
        let mut ancestor = self.plan.tiers[t as usize].parent;
        while ancestor != NO_TIER {
            let a = &self.plan.tiers[ancestor as usize];
            if self.crowd(&ctx, usize::from(a.level), ancestor) >= a.cap {
                return None;
            }
            ancestor = a.parent;
        }
        let tier = &self.plan.tiers[t as usize];
        if self.crowd(&ctx, usize::from(tier.level), t) >= tier.cap {
            return None;
        }
        self.pick(&ctx, usize::from(tier.level) + 1, &tier.children)
    }

    /// Phase 3: spread partitions whose replicas crowd a domain or miss one
    /// they must have (after devices were added in a new zone, say).
    fn disperse(&mut self) {
        for p in 0..self.parts {
            let crowded = self.crowded_slots(p);
            if let Some((r, dev)) =
                crowded.iter().find_map(|&r| Some((r, self.find_device(p, r, Mode::Disperse)?)))
            {
                self.set(p, r, dev);
            } else if crowded.is_empty()
                && let Some((thin, slots)) = self.thin_slots(p)
            {
                for r in slots {
                    if let Some(dev) = self.find_device_in(p, r, thin) {
                        self.set(p, r, dev);
                        break;
                    }
                }
            }
        }
    }

    /// Phase 4: move replicas from devices above target to devices below it,
    /// within the caps. Slots that already changed in this rebalance are tried
    /// first (moving them again costs no extra old replica), then the rest,
    /// from a starting partition that varies between rebalances.
    fn balance(&mut self, seed: u64) {
        let n = self.dev_parts.len();
        let excess = |e: &Self, d: usize| e.dev_parts[d] - e.plan.dev_target[d] as i64;
        let mut over: Vec<usize> = (0..n).filter(|&d| !self.removed[d] && excess(self, d) > 0).collect();
        if over.is_empty() {
            return;
        }
        over.sort_by(|&a, &b| {
            let rel = |d: usize| excess(self, d) as f64 / (self.plan.dev_target[d].max(1)) as f64;
            rel(b).total_cmp(&rel(a)).then(a.cmp(&b))
        });
        let mut is_over = vec![false; n];
        for &d in &over {
            is_over[d] = true;
        }
        // Pass 1 tries only replicas that already move in this rebalance
        // (moving them on costs no extra move), for every device, before
        // pass 2 touches replicas that would otherwise stay.
        let free =
            |e: &Self, p: usize, r: usize| e.original[p * e.r + r] == NONE || usize::from(e.changed[p]) == r;
        let over_at = |e: &Self, slot: usize| {
            let d = e.table[slot];
            d != NONE && is_over[d as usize]
        };
        let mut free_slots: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut other_slots: Vec<Vec<u32>> = vec![Vec::new(); n];
        let start = (seed % self.parts as u64) as usize;
        for k in 0..self.parts {
            let p = (start + k) % self.parts;
            for r in 0..self.r {
                let slot = p * self.r + r;
                if over_at(self, slot) {
                    let lists = if free(self, p, r) { &mut free_slots } else { &mut other_slots };
                    lists[self.table[slot] as usize].push(slot as u32);
                }
            }
        }
        // Old replicas already moving in this rebalance: they may be moved on
        // to make room (see make_room) at no extra cost.
        let moving: Vec<(usize, usize)> = (0..self.parts)
            .filter(|&p| self.changed[p] != UNCHANGED)
            .map(|p| (p, usize::from(self.changed[p])))
            .collect();
        for lists in [&free_slots, &other_slots] {
            for &o in &over {
                for &slot in &lists[o] {
                    if excess(self, o) <= 0 {
                        break;
                    }
                    let (p, r) = (slot as usize / self.r, slot as usize % self.r);
                    if self.table[slot as usize] as usize != o || !self.can_change(p, r) {
                        continue;
                    }
                    let already_moving =
                        self.original[slot as usize] != NONE && usize::from(self.changed[p]) == r;
                    let dev = self
                        .find_device(p, r, Mode::Balance)
                        .or_else(|| if already_moving { self.make_room(p, r, &moving) } else { None });
                    if let Some(dev) = dev {
                        self.set(p, r, dev);
                    }
                }
            }
        }
        self.balance_by_chains(&over, seed);
    }

    /// Pass 3 of phase 4, for what direct moves could not fix: a replica on
    /// a device above target may be unable to reach any device below target
    /// (each already holds its partition, or dispersion forbids it), yet
    /// reach a device at target that can hand one of its own replicas on to
    /// a device below target. Such a chain moves two replicas of two
    /// partitions. The search is bounded, so this pass stays cheap; whatever
    /// it cannot fix is reported as pending.
    fn balance_by_chains(&mut self, over: &[usize], seed: u64) {
        const SOURCE_TRIES: usize = 64;
        const MIDDLE_TRIES: usize = 256;
        const HANDOFF_TRIES: usize = 64;
        // Placement attempts this pass may spend, whatever the ring's size.
        let mut budget: u32 = 200_000;
        let n = self.dev_parts.len();
        let excess = |e: &Self, d: usize| e.dev_parts[d] - e.plan.dev_target[d] as i64;
        if over.iter().all(|&o| excess(self, o) <= 0) {
            return;
        }
        // Each device's slots in a scattered partition order: neighbouring
        // partitions were often placed alike, so trying them in order would
        // keep meeting the same obstacle.
        let mut slots_of: Vec<Vec<u32>> = vec![Vec::new(); n];
        let start = (seed % self.parts as u64) as usize;
        let stride = (seed >> 32) as usize | 1;
        for k in 0..self.parts {
            let p = start.wrapping_add(k.wrapping_mul(stride)) % self.parts;
            for r in 0..self.r {
                let d = self.table[p * self.r + r];
                if d != NONE {
                    slots_of[d as usize].push((p * self.r + r) as u32);
                }
            }
        }
        let middles: Vec<u32> = (0..n as u32)
            .filter(|&d| self.plan.dev_active[d as usize] && excess(self, d as usize) == 0)
            .collect();
        for &o in over {
            let sources: Vec<u32> = slots_of[o].iter().copied().take(SOURCE_TRIES * 4).collect();
            let mut tried = 0;
            for slot in sources {
                if excess(self, o) <= 0 || tried == SOURCE_TRIES {
                    break;
                }
                let (p, r) = (slot as usize / self.r, slot as usize % self.r);
                if self.table[slot as usize] as usize != o || !self.can_change(p, r) {
                    continue;
                }
                tried += 1;
                'middle: for &m in middles.iter().take(MIDDLE_TRIES) {
                    if excess(self, m as usize) != 0 || !self.fits(p, r, m) {
                        continue;
                    }
                    for &handed in slots_of[m as usize].iter().take(HANDOFF_TRIES) {
                        let (q, s) = (handed as usize / self.r, handed as usize % self.r);
                        if q == p || self.table[handed as usize] != m || !self.can_change(q, s) {
                            continue;
                        }
                        if budget == 0 {
                            return;
                        }
                        budget -= 1;
                        let Some(u) = self.find_device(q, s, Mode::Balance) else { continue };
                        self.set(q, s, u);
                        if self.accepts(p, r, m, Mode::Balance) {
                            self.set(p, r, m);
                            break 'middle;
                        }
                        self.set(q, s, m);
                    }
                }
            }
        }
    }

    fn finish(self) -> Outcome {
        let mut moved = 0;
        let mut assigned = 0;
        for (now, was) in self.table.iter().zip(&self.original) {
            if *was == NONE {
                assigned += 1;
            } else if now != was {
                moved += 1;
            }
        }
        let changed = (0..self.parts).filter(|&p| self.changed[p] != UNCHANGED).map(|p| p as u32).collect();
        Outcome { table: self.table, changed, moved, assigned }
    }
}
