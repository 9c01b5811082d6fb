//! Fair shares of the controller's sync slots between tenants. A tenant is a GitSync's
//! namespace: whoever may create GitSyncs there chooses what its renders wait on (a chart
//! repository that accepts and never answers holds a slot until the render's deadline).
//!
//! The rule: with `total` slots (`--concurrent-syncs`) and `T` tenants (the namespaces
//! holding GitSyncs this controller owns), one tenant holds at most `total / T` slots (at
//! least one), even while others are free, and a tenant already holding a slot never takes
//! the last free one; a freed slot goes to the waiting tenant that holds the fewest, the one
//! served longest ago among equals. A render cannot be preempted, so a slot a tenant is not
//! entitled to is never lent: lent, it could be held until a deadline while its owner waits.
//! A tenant whose every render hangs so delays its own syncs. Not promised: a tenant over
//! its share when another arrives gives its extra slots back only as its syncs end (at worst
//! at their render deadline), and more tenants hanging at once than slots fill them all.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// Past this many tenants remembered, those neither holding nor waiting are forgotten.
const MAX_REMEMBERED: usize = 4096;

/// How many tenants there are now (asked at every grant: GitSyncs come and go).
pub type TenantCount = Box<dyn Fn() -> usize + Send + Sync>;

/// The slots, shared by every reconcile.
pub struct Slots {
    state: Arc<Mutex<State>>,
    tenants: TenantCount,
}

struct State {
    total: usize,
    held: HashMap<String, usize>,
    in_use: usize,
    waiting: VecDeque<Waiter>,
    /// When each tenant was last given a slot (a count of grants): among tenants holding as
    /// many, the one served longest ago goes first.
    served: HashMap<String, u64>,
    grants: u64,
}

struct Waiter {
    tenant: String,
    grant: oneshot::Sender<Slot>,
}

/// One slot held by `tenant`, given back on drop.
pub struct Slot {
    tenant: String,
    state: Option<Arc<Mutex<State>>>,
    /// The tenant count to hand the next slot out with.
    tenants: usize,
}

impl Slots {
    /// `total` slots (at least one), shared between `tenants()` tenants.
    pub fn new(total: usize, tenants: TenantCount) -> Self {
        Slots {
            state: Arc::new(Mutex::new(State {
                total: total.max(1),
                held: HashMap::new(),
                in_use: 0,
                waiting: VecDeque::new(),
                served: HashMap::new(),
                grants: 0,
            })),
            tenants,
        }
    }

    /// Waits for a slot `tenant` may hold.
    pub async fn acquire(&self, tenant: &str) -> Slot {
        let receiver = {
            let tenants = (self.tenants)();
            let mut state = lock(&self.state);
            let (grant, receiver) = oneshot::channel();
            state.waiting.push_back(Waiter {
                tenant: tenant.to_string(),
                grant,
            });
            state.dispatch(&self.state, tenants);
            receiver
        };
        match receiver.await {
            Ok(slot) => slot,
            // The sender lives in the queue until it is granted; it is never dropped unsent
            // while this receiver waits.
            Err(_) => Slot {
                tenant: tenant.to_string(),
                state: None,
                tenants: 0,
            },
        }
    }

    /// The slots `tenant` holds now.
    #[cfg(test)]
    fn held(&self, tenant: &str) -> usize {
        lock(&self.state).held.get(tenant).copied().unwrap_or(0)
    }
}

impl State {
    /// The most slots one tenant may hold among `tenants` (counting those holding or waiting
    /// for one, should the caller's count lag behind).
    fn share(&self, tenants: usize) -> usize {
        let mut present: Vec<&str> = self
            .held
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(t, _)| t.as_str())
            .chain(self.waiting.iter().map(|w| w.tenant.as_str()))
            .collect();
        present.sort_unstable();
        present.dedup();
        let tenants = tenants.max(present.len()).max(1);
        (self.total / tenants).max(1)
    }

    /// Hands free slots to waiters entitled to them: the tenant holding fewest first.
    fn dispatch(&mut self, shared: &Arc<Mutex<State>>, tenants: usize) {
        // Waiters whose reconcile was dropped (shutdown) are forgotten.
        self.waiting.retain(|w| !w.grant.is_closed());
        while self.in_use < self.total {
            let share = self.share(tenants);
            let free = self.total - self.in_use;
            let next = self
                .waiting
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let held = self.held.get(&w.tenant).copied().unwrap_or(0);
                    let served = self.served.get(&w.tenant).copied().unwrap_or(0);
                    (held, served, i)
                })
                // The last free slot is kept for a tenant holding none: one arriving (its first
                // GitSync, or the first due in a while) finds a slot even when another tenant
                // took every other before it was counted.
                .filter(|(held, _, _)| *held < share && (*held == 0 || free > 1))
                .min();
            let Some((_, _, index)) = next else {
                return;
            };
            let Some(waiter) = self.waiting.remove(index) else {
                return;
            };
            *self.held.entry(waiter.tenant.clone()).or_default() += 1;
            self.in_use += 1;
            self.grants += 1;
            self.served.insert(waiter.tenant.clone(), self.grants);
            if self.served.len() > MAX_REMEMBERED {
                // Namespaces come and go: only the present ones' turns matter.
                let (held, waiting) = (&self.held, &self.waiting);
                self.served
                    .retain(|t, _| held.contains_key(t) || waiting.iter().any(|w| &w.tenant == t));
            }
            let slot = Slot {
                tenant: waiter.tenant,
                state: Some(shared.clone()),
                tenants,
            };
            if let Err(mut slot) = waiter.grant.send(slot) {
                // Its reconcile went away meanwhile: the slot is free again, given back here
                // (its drop would take the lock held now).
                slot.state = None;
                self.release(&slot.tenant);
            }
        }
    }

    fn release(&mut self, tenant: &str) {
        if let Some(held) = self.held.get_mut(tenant) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                self.held.remove(tenant);
            }
        }
        self.in_use = self.in_use.saturating_sub(1);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(shared) = self.state.take() {
            let mut state = lock(&shared);
            state.release(&self.tenant);
            state.dispatch(&shared, self.tenants);
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn slots(total: usize, tenants: usize) -> (Slots, Arc<AtomicUsize>) {
        let count = Arc::new(AtomicUsize::new(tenants));
        let seen = count.clone();
        (
            Slots::new(total, Box::new(move || seen.load(Ordering::SeqCst))),
            count,
        )
    }

    /// Whether `acquire` is granted without waiting.
    async fn granted_at_once(slots: &Slots, tenant: &str) -> Option<Slot> {
        let acquire = slots.acquire(tenant);
        tokio::pin!(acquire);
        match futures::poll!(acquire.as_mut()) {
            std::task::Poll::Ready(slot) => Some(slot),
            std::task::Poll::Pending => None,
        }
    }

    #[tokio::test]
    async fn a_lone_tenant_uses_every_slot_but_the_one_kept_for_a_tenant_holding_none() {
        let (slots, _) = slots(4, 1);
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(granted_at_once(&slots, "a").await.expect("a free slot"));
        }
        assert!(granted_at_once(&slots, "a").await.is_none());
        held.push(granted_at_once(&slots, "b").await.expect("the slot kept"));
        assert!(granted_at_once(&slots, "c").await.is_none());
    }

    #[tokio::test]
    async fn a_single_slot_goes_to_whoever_asks_first() {
        let (slots, _) = slots(1, 2);
        let held = granted_at_once(&slots, "a").await.expect("the slot");
        assert!(granted_at_once(&slots, "b").await.is_none());
        drop(held);
        assert!(granted_at_once(&slots, "b").await.is_some());
    }

    #[tokio::test]
    async fn a_tenant_holds_no_more_than_its_share_while_slots_stay_free_for_the_others() {
        let (slots, _) = slots(8, 2);
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(
                granted_at_once(&slots, "a")
                    .await
                    .expect("within a's share"),
            );
        }
        assert!(
            granted_at_once(&slots, "a").await.is_none(),
            "a fifth slot for a"
        );
        assert_eq!(slots.held("a"), 4);
        for _ in 0..3 {
            held.push(
                granted_at_once(&slots, "b")
                    .await
                    .expect("within b's share"),
            );
        }
        assert_eq!(slots.held("b"), 3);
        assert!(
            granted_at_once(&slots, "b").await.is_none(),
            "the last slot for b"
        );
        assert!(
            granted_at_once(&slots, "c").await.is_some(),
            "the last slot for c"
        );
    }

    #[tokio::test]
    async fn with_more_tenants_than_slots_each_gets_one_and_a_freed_slot_goes_to_one_holding_none()
    {
        let (slots, _) = slots(2, 3);
        let slots = Arc::new(slots);
        let a = granted_at_once(&slots, "a").await.expect("a's slot");
        let _b = granted_at_once(&slots, "b").await.expect("b's slot");
        // a asks again before c does: c, holding none, still goes first.
        let a_again = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire("a").await }
        });
        tokio::task::yield_now().await;
        let c = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire("c").await }
        });
        tokio::task::yield_now().await;
        drop(a);
        let c = c.await.unwrap();
        assert_eq!(c.tenant, "c");
        assert_eq!(slots.held("a"), 0);
        assert!(!a_again.is_finished());
        drop(c);
        assert_eq!(a_again.await.unwrap().tenant, "a");
    }

    #[tokio::test]
    async fn a_tenant_arriving_lowers_the_others_share_for_their_next_slots() {
        let (slots, count) = slots(4, 1);
        let _first = granted_at_once(&slots, "a").await.expect("a free slot");
        let _second = granted_at_once(&slots, "a").await.expect("a free slot");
        count.store(2, Ordering::SeqCst);
        assert!(
            granted_at_once(&slots, "a").await.is_none(),
            "a third slot for a, with two tenants and four slots"
        );
        let _b = granted_at_once(&slots, "b").await.expect("b's share");
        assert_eq!(slots.held("a"), 2);
    }

    #[tokio::test]
    async fn a_waiter_that_went_away_takes_no_slot() {
        let (slots, _) = slots(1, 1);
        let held = granted_at_once(&slots, "a").await.expect("a free slot");
        assert!(granted_at_once(&slots, "a").await.is_none());
        drop(held);
        assert_eq!(slots.held("a"), 0);
        assert!(granted_at_once(&slots, "a").await.is_some());
    }
}
