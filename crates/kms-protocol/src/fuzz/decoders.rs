//! The decoders target: every decoder fed arbitrary bytes, with what a decoded value must satisfy.

use super::*;

/// Feeds `data[1..]` to the decoder `data[0]` picks (see the module doc).
pub fn decoders(data: &[u8]) {
    let fx = fixture();
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 8 {
        DEC_ENVELOPE => envelope(fx, rest),
        DEC_BODY => body(rest),
        DEC_CERTIFICATE => certificate(fx, rest),
        DEC_ROUND_CONFIG => round_config(rest),
        DEC_RESUME | DEC_RESUME_HEADED => resume(fx, rest, sel % 8 == DEC_RESUME_HEADED),
        DEC_SIGNED_LOG => signed_log(fx, rest),
        _ => crypto(fx, rest),
    }
}

pub(super) fn envelope(fx: &Fixture, b: &[u8]) {
    let Ok(raw) = RawEnvelope::parse(b) else {
        return;
    };
    assert!(raw.encode() == b, "envelope encoding is not canonical");
    if let Ok(env) = raw.clone().open(&mut CommitmentCache::default()) {
        assert!(
            env.body.encode() == raw.body(),
            "body encoding is not canonical"
        );
        assert_eq!(env.body.kind(), raw.kind);
    }
    // The whole front door, signature included, when the header can pass the cheap checks.
    let cfg = &fx.cluster.cfg;
    let known = cfg.player_index(&raw.sender).is_some() || cfg.dealer_index(&raw.sender).is_some();
    if raw.round == cfg.digest() && known {
        let me = raw
            .recipient
            .filter(|r| cfg.player_index(r).is_some())
            .or_else(|| fx.cluster.node(0).map(SimNode::address))
            .unwrap_or_default();
        let _ = Inbox::new(cfg.clone(), me).accept(&[b]);
    }
}

pub(super) fn body(b: &[u8]) {
    let Some((&k, rest)) = b.split_first() else {
        return;
    };
    let kind = KINDS
        .get(usize::from(k) % KINDS.len())
        .copied()
        .unwrap_or(Kind::Deal);
    if let Ok(body) = Body::decode(kind, rest, &mut CommitmentCache::default()) {
        assert!(
            body.encode() == rest,
            "{kind:?} body encoding is not canonical"
        );
        assert_eq!(body.kind(), kind);
    }
}

pub(super) fn certificate(fx: &Fixture, b: &[u8]) {
    let Ok(c) = Certificate::decode(b, crate::Commit) else {
        return;
    };
    assert!(c.encode() == b, "certificate encoding is not canonical");
    let cfg = &fx.cluster.cfg;
    if verify_certificate(cfg, &c).is_ok() {
        // Only the honest run's players signed votes, all for one set.
        assert!(
            c.set == fx.certificate.set,
            "a certificate for another set verifies"
        );
        let logs: Vec<Envelope> = fx
            .honest
            .iter()
            .filter_map(|m| {
                let env = RawEnvelope::parse(m)
                    .ok()?
                    .open(&mut CommitmentCache::default())
                    .ok()?;
                matches!(env.body, Body::Log(_)).then_some(env)
            })
            .collect();
        let out = observe(cfg, &c, &logs, None);
        assert!(
            out.is_ok_and(|o| o.public == fx.public),
            "a verified certificate does not finalize to the honest polynomial"
        );
    }
}

pub(super) fn round_config(b: &[u8]) {
    let Ok(cfg) = RoundConfig::decode(b) else {
        return;
    };
    assert!(cfg.encode() == b, "round config encoding is not canonical");
    let again = RoundConfig::decode(&cfg.encode());
    assert!(
        again.is_ok_and(|c| c.digest() == cfg.digest()),
        "round config does not decode its own encoding"
    );
    let _ = (cfg.leader(0), cfg.max_reveals(), cfg.min_dealings());
}

pub(super) fn resume(fx: &Fixture, b: &[u8], headed: bool) {
    let Some((&me, rest)) = b.split_first() else {
        return;
    };
    let i = usize::from(me) % N;
    let saved = if headed {
        let header = fx
            .at_end
            .get(i)
            .and_then(|s| s.get(..SAVE_HEADER))
            .unwrap_or_default();
        [header, rest].concat()
    } else {
        rest.to_vec()
    };
    let Ok(mut p) = fx.cluster.player(i, Some(&saved)) else {
        return;
    };
    let once = p.save();
    match fx.cluster.player(i, Some(&once)) {
        Ok(q) => assert!(q.save() == once, "save(resume(save(x))) != save(x)"),
        Err(e) => broken(&format!("a resumed player's save does not resume: {e}")),
    }
    // Whatever was restored, the machine keeps working without panicking.
    let _ = p.end_deals();
    let _ = p.start_attempt(p.attempt());
    let _ = p.propose();
    if let Ok(out) = p.finalize() {
        assert!(
            out.public == fx.public,
            "a resumed player finalized another polynomial"
        );
    }
}

/// A log body from the fuzzer, signed by a real dealer (a Byzantine one): the public checks and
/// the evidence checks run on it.
pub(super) fn signed_log(fx: &Fixture, b: &[u8]) {
    let Some((&d, rest)) = b.split_first() else {
        return;
    };
    let cfg = &fx.cluster.cfg;
    let Some(n) = fx.cluster.node(usize::from(d) % N) else {
        return;
    };
    let Ok(body @ Body::Log(_)) = Body::decode(Kind::Log, rest, &mut CommitmentCache::default())
    else {
        return;
    };
    let env = Envelope::sign(cfg.digest(), n.address(), None, body, &n.key);
    let mut sigs = CheckCache::default();
    let verdict = check_logs(cfg, &[&env], &mut sigs);
    let invalid = evidence_holds(cfg, &Evidence::InvalidLog(Box::new(env.clone())), &mut sigs);
    assert_eq!(
        invalid,
        matches!(verdict.first(), Some(Err(_))),
        "evidence of an invalid log disagrees with the log checks"
    );
    // Against the dealer's honest log: proof of equivocation iff the bodies differ.
    let honest_log = fx.honest.iter().find_map(|m| {
        let raw = RawEnvelope::parse(m).ok()?;
        (raw.kind == Kind::Log && raw.sender == n.address())
            .then(|| raw.open(&mut CommitmentCache::default()).ok())?
    });
    if let Some(h) = honest_log {
        let equivocation = Evidence::Equivocation(Box::new(h.clone()), Box::new(env.clone()));
        assert_eq!(
            evidence_holds(cfg, &equivocation, &mut sigs),
            h.raw != env.raw,
            "equivocation evidence judged wrongly"
        );
    }
}

pub(super) fn crypto(fx: &Fixture, b: &[u8]) {
    let Some((&sub, rest)) = b.split_first() else {
        return;
    };
    match sub % 6 {
        0 => {
            if let Ok(s) = Sealed::from_bytes(rest) {
                assert!(s.to_bytes() == rest, "sealed box encoding is not canonical");
                if let Some(n) = fx.cluster.node(0) {
                    let _ = n.enc.open(&s, b"KMS_FUZZ");
                    let mut eph = [0u8; 32];
                    for (e, v) in eph.iter_mut().zip(rest) {
                        *e = *v;
                    }
                    let _ =
                        open_with_ephemeral(&Secret::new(eph), &n.operator.enc, &s, b"KMS_FUZZ");
                }
            }
        }
        1 => {
            if let Ok(c) = Commitment::from_bytes(rest) {
                assert!(c.to_bytes() == rest, "commitment encoding is not canonical");
                if let Ok(x) = EvalPoint::from_index(7) {
                    let _ = bls::public_share(&c, &x);
                }
            }
        }
        2 => {
            if let Ok(p) = bls::G1Point::from_bytes(rest) {
                assert!(p.to_bytes() == rest, "BLS G1 encoding is not canonical");
            }
            if let Ok(p) = bls::G2Point::from_bytes(rest) {
                assert!(p.to_bytes() == rest, "BLS G2 encoding is not canonical");
            }
        }
        3 => {
            let word = |i: usize| {
                bn254::U256::from_be_slice(rest.get(i * 32..(i + 1) * 32).unwrap_or(&[]))
            };
            if rest.len() == 64 {
                if let Ok(p) = bn254::G1Point::from_coords(word(0), word(1)) {
                    assert!(
                        p.to_abi_bytes() == rest,
                        "BN254 G1 encoding is not canonical"
                    );
                }
            }
            if rest.len() == 128 {
                if let Ok(p) = bn254::G2Point::from_solidity([word(0), word(1)], [word(2), word(3)])
                {
                    assert!(
                        p.to_abi_bytes() == rest,
                        "BN254 G2 encoding is not canonical"
                    );
                }
            }
        }
        4 => {
            if let Ok(s) = bls::PublicScalar::from_bytes(rest) {
                assert!(s.to_bytes() == rest, "scalar encoding is not canonical");
            }
            let _ = bls::SecretScalar::from_bytes(rest);
            if let Ok(k) = EncryptionPublicKey::from_bytes(rest) {
                assert!(k.to_bytes() == rest, "x25519 key encoding is not canonical");
            }
            if let Ok(a) = <[u8; 20]>::try_from(rest) {
                let _ = EvalPoint::from_address(&a);
            }
        }
        _ => {
            if let Ok(k) = kms_crypto::seal::EncryptionKey::from_bytes(rest) {
                let _ = k.public();
            }
            if let Ok(a) = <[u8; 32]>::try_from(rest) {
                let _ = bn254::SecretKey::from_be_bytes_reduced(&a);
            }
        }
    }
}
