//! 50 consecutive reshares in simulation, with membership changes (4 <-> 5 players, and the
//! window of members sliding over a pool of 7) and one fault in most epochs: the MPK and the app
//! key stay byte-identical, every continuing player's share changes every epoch, and an
//! old-epoch share mixed with new ones does not verify or recover.
#![cfg(test)]

use kms_crypto::bls::{
    find_invalid_partials, hash_app_id, partial_sign, recover, recover_verified, verify_partial,
    AppKey, Share,
};
use kms_protocol::sim::plan::{DealerFault, Down, FaultPlan};
use kms_protocol::sim::scenario::{check_round, Cluster, Expect, Outcome};
use kms_protocol::sim::Phase;
use kms_protocol::Address;
use std::collections::BTreeMap;

const POOL: usize = 7;

fn members(epoch: usize) -> Vec<usize> {
    let n = if (epoch / 5).is_multiple_of(2) { 4 } else { 5 };
    let start = epoch / 10;
    (0..n).map(|i| (start + i) % POOL).collect()
}

fn share_bytes(s: &Share) -> [u8; 32] {
    s.value.expose(|v| v.to_bytes().expose(|b| *b))
}

#[test]
fn fifty_reshares_keep_the_key_and_refresh_every_share() {
    let app = b"reshare-chain";
    let h = hash_app_id(app);
    let mut c = Cluster::new(2024, POOL);
    let cfg = c.next_config(&members(0)).unwrap();
    let plan = FaultPlan::new(0, 8);
    let res = c.run(&cfg, plan.clone());
    check_round(&cfg, &plan, &res, Expect::Live, 0).unwrap();
    let mpk = c.current.as_ref().unwrap().2.public_key().to_bytes();

    // The app key from t shares of the current epoch.
    let app_key = |c: &Cluster| -> [u8; 48] {
        let (_, _, public) = c.current.as_ref().unwrap();
        let partials: Vec<_> = c
            .nodes
            .iter()
            .filter_map(|n| n.output.as_ref()?.share.as_ref())
            .map(|s| partial_sign(s, app))
            .collect();
        let (key, bad) = recover_verified(public, app, &partials).unwrap();
        assert!(bad.is_empty());
        key.to_bytes().expose(|b| *b)
    };
    let key = app_key(&c);

    for epoch in 1..=50usize {
        let old_public = c.current.as_ref().unwrap().2.clone();
        let old_shares: BTreeMap<Address, Share> = c
            .nodes
            .iter()
            .filter_map(|n| {
                let s = n.output.as_ref()?.share.as_ref()?;
                Some((
                    n.address(),
                    Share {
                        point: s.point,
                        value: s.value.duplicate(),
                    },
                ))
            })
            .collect();

        let cfg = c.next_config(&members(epoch)).unwrap();
        // One fault in three epochs out of four (budget: 1 of 4 or 5, on both sides).
        let dealers: Vec<Address> = cfg.dealers.iter().map(|o| o.address).collect();
        let players: Vec<Address> = cfg.players.iter().map(|o| o.address).collect();
        let d = dealers[epoch % dealers.len()];
        let victim = *players.iter().find(|p| **p != d).unwrap();
        let mut plan = FaultPlan::new(epoch as u64, 8);
        match epoch % 4 {
            1 => {
                plan.set(d, |n| {
                    n.down = Some(Down {
                        from: Phase::Deal,
                        until: None,
                        restart: false,
                    })
                });
            }
            2 => {
                plan.set(victim, |n| n.no_ack = true);
            }
            3 => {
                plan.set(d, |n| n.dealer = Some(DealerFault::BadShare { to: victim }));
            }
            _ => {}
        }
        let res = c.run(&cfg, plan.clone());
        let outcome = check_round(&cfg, &plan, &res, Expect::Live, epoch as u64)
            .unwrap_or_else(|e| panic!("epoch {epoch}: {e}"));
        assert!(matches!(outcome, Outcome::Finalized { .. }));
        let (_, _, public) = c.current.clone().unwrap();
        assert_eq!(c.current.as_ref().unwrap().0, cfg.epoch);

        // The MPK and the app key never change.
        assert_eq!(public.public_key().to_bytes(), mpk, "epoch {epoch}");
        assert_eq!(public.threshold(), cfg.threshold);
        assert_eq!(app_key(&c), key, "epoch {epoch}");

        // Every player that continues holds a new share; its old one no longer verifies.
        let new_shares: BTreeMap<Address, &Share> = c
            .nodes
            .iter()
            .filter_map(|n| Some((n.address(), n.output.as_ref()?.share.as_ref()?)))
            .collect();
        assert_eq!(new_shares.len(), players.len());
        let mut continuing = 0;
        for (a, old) in &old_shares {
            let Some(new) = new_shares.get(a) else {
                continue;
            };
            continuing += 1;
            assert_ne!(share_bytes(old), share_bytes(new), "epoch {epoch}");
            assert!(public.verify_share(new).is_ok());
            assert!(public.verify_share(old).is_err());
            assert!(old_public.verify_share(old).is_ok());
        }
        assert!(continuing >= 3);

        // An old-epoch partial among new ones: named as invalid, and recovery with it fails.
        let (old_addr, old_share) = old_shares
            .iter()
            .find(|(a, _)| new_shares.contains_key(*a))
            .unwrap();
        let old_partial = partial_sign(old_share, app);
        assert!(verify_partial(&public, &old_partial, &h).is_err());
        let mut mixed = vec![old_partial];
        mixed.extend(
            new_shares
                .iter()
                .filter(|(a, _)| *a != old_addr)
                .take(cfg.threshold - 1)
                .map(|(_, s)| partial_sign(s, app)),
        );
        assert_eq!(mixed.len(), cfg.threshold);
        assert_eq!(find_invalid_partials(&public, &mixed, &h), vec![0]);
        assert!(recover_verified(&public, app, &mixed).is_err());
        let forged = recover(cfg.threshold, &mixed).unwrap();
        assert!(AppKey::from_bytes(&forged.to_bytes(), app, &public.public_key()).is_err());
    }
}
