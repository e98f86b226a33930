//! How the planned network delivers: the simulation's Network trait for PlanNetwork, faults applied
//! per message.

use super::*;

impl Network for PlanNetwork {
    fn goes_down(&mut self, node: &Address, phase: Phase) -> bool {
        if self.downed.contains_key(node) {
            return false;
        }
        if let Some(d) = self.plan.node(node).and_then(|p| p.down) {
            if rank(phase) >= rank(d.from) && d.until.is_none_or(|u| rank(phase) < rank(u)) {
                self.downed.insert(*node, (d.until, d.restart));
                return true;
            }
        }
        if let (Some(LeaderFault::CrashBeforePropose), Phase::Agreement(a)) =
            (self.leader_fault(node), phase)
        {
            if self.first_lead(node) == Some(a) {
                self.downed
                    .insert(*node, (Some(Phase::Agreement(a + 1)), false));
                return true;
            }
        }
        false
    }

    fn back_at(&self, node: &Address) -> Option<Phase> {
        self.downed.get(node).and_then(|(b, _)| *b)
    }

    fn restarts(&self, node: &Address) -> bool {
        self.downed.get(node).is_some_and(|(_, r)| *r)
    }

    fn write_fails(&mut self, node: &Address, n: u64) -> bool {
        self.plan
            .failed_writes
            .iter()
            .any(|(a, from, count)| a == node && n >= *from && n < from + count)
    }

    fn early(&self) -> bool {
        !self.plan.no_early
    }

    fn injects(&self) -> bool {
        !self.plan.replays.is_empty()
            || !self.plan.stale.is_empty()
            || !self.extra.is_empty()
            || self.plan.nodes.values().any(|p| {
                p.byz
                    .iter()
                    .any(|b| matches!(b, Byz::AttemptJumps | Byz::Flood(_)))
            })
    }

    fn deliver(&mut self, d: &Delivery<'_>) -> Option<Vec<u8>> {
        let Ok(raw) = RawEnvelope::peek(d.bytes) else {
            return Some(d.bytes.to_vec());
        };
        let from = raw.sender;
        let out = match raw.kind {
            Kind::Status
                if d.to != from
                    && self
                        .plan
                        .node(&from)
                        .is_some_and(|p| p.does(Byz::WithholdStatus)) =>
            {
                None
            }
            Kind::Deal => match self.deals.get(&(from, d.to)) {
                Some(r) if raw.recipient == Some(d.to) => r.clone(),
                _ => Some(d.bytes.to_vec()),
            },
            Kind::Log if self.log_patch.contains_key(&from) => self.patched_log(&from, d.bytes),
            Kind::Acks if d.to != from && self.plan.node(&from).is_some_and(|p| p.no_ack) => None,
            Kind::Proposal
            | Kind::Certificate
            | Kind::Prevote
            | Kind::Prepared
            | Kind::Precommit => {
                let Phase::Agreement(a) = d.phase else {
                    return Some(d.bytes.to_vec());
                };
                let leader = self.cfg.leader(a);
                let crash_after = match self.leader_fault(&leader) {
                    Some(LeaderFault::CrashAfterPropose { reach })
                        if self.first_lead(&leader) == Some(a) =>
                    {
                        Some(reach.contains(&d.to))
                    }
                    _ => None,
                };
                match (raw.kind, crash_after) {
                    // Down once its proposal is out: votes to it are lost, it certifies nothing.
                    (Kind::Prevote | Kind::Precommit, Some(_)) if d.to == leader => None,
                    (Kind::Certificate | Kind::Prepared, Some(_)) if from == leader => None,
                    (Kind::Proposal, Some(reached)) if from == leader => {
                        (reached || d.to == leader).then(|| d.bytes.to_vec())
                    }
                    (Kind::Proposal, None) if from == leader && d.to != leader => {
                        self.crafted_proposal(&leader, &d.to, d.bytes)
                    }
                    (Kind::Certificate, None)
                        if matches!(
                            self.leader_fault(&from),
                            Some(
                                LeaderFault::InvalidSet
                                    | LeaderFault::PartialSet
                                    | LeaderFault::Split { .. }
                                    | LeaderFault::WithholdCertificate
                            )
                        ) =>
                    {
                        None
                    }
                    _ => Some(d.bytes.to_vec()),
                }
            }
            _ => Some(d.bytes.to_vec()),
        };
        if let Some(b) = &out {
            self.seen.push((d.phase, d.from, d.to, b.clone()));
        }
        out
    }

    fn extra_after(&mut self, d: &Delivery<'_>) -> Vec<Vec<u8>> {
        let Ok(h) = RawEnvelope::peek(d.bytes) else {
            return Vec::new();
        };
        let does = |b| self.plan.node(&h.sender).is_some_and(|p| p.does(b));
        let second = match h.kind {
            Kind::Proposal => does(Byz::EquivocateProposals),
            Kind::Status => does(Byz::EquivocateStatuses),
            _ => false,
        };
        if !second || d.to == h.sender {
            return Vec::new();
        }
        let Ok(raw) = RawEnvelope::parse(d.bytes) else {
            return Vec::new();
        };
        match h.kind {
            Kind::Proposal => self.second_proposal(&raw).into_iter().collect(),
            _ => self.second_status(&raw).into_iter().collect(),
        }
    }

    fn inject(&mut self, phase: Phase) -> Vec<(Address, Address, Vec<u8>)> {
        let mut out: Vec<(Address, Address, Vec<u8>)> = self.byzantine_traffic(phase);
        let mut extra = std::mem::take(&mut self.extra);
        extra.retain(|(ph, from, to, bytes)| {
            if *ph != phase {
                return true;
            }
            if !self
                .plan
                .node(from)
                .and_then(|p| p.down)
                .is_some_and(|d| d.covers(phase))
            {
                out.push((*from, *to, bytes.clone()));
            }
            false
        });
        self.extra = extra;
        for (ph, from, to, bytes) in &self.plan.replays {
            if *ph == phase {
                out.push((*from, *to, bytes.clone()));
            }
        }
        let stale: usize = self
            .plan
            .stale
            .iter()
            .filter(|(ph, _)| *ph == phase)
            .map(|(_, c)| *c)
            .sum();
        for _ in 0..stale {
            if self.seen.is_empty() || self.everyone.is_empty() {
                break;
            }
            let i = (self.rng.next_u64() % self.seen.len() as u64) as usize;
            let Some((_, from, to, bytes)) = self.seen.get(i).cloned() else {
                continue;
            };
            let to = if self.rng.next_u32().is_multiple_of(2) {
                to
            } else {
                let j = (self.rng.next_u64() % self.everyone.len() as u64) as usize;
                self.everyone.get(j).copied().unwrap_or(to)
            };
            out.push((from, to, bytes));
        }
        out
    }

    fn tamper_deals(&mut self, dealer: &Address, deals: Vec<Envelope>) -> Vec<Envelope> {
        self.craft_deals(dealer, &deals);
        deals
    }
}
