//! Seed inputs for both targets: one natural round, and the attacks it should reach.

use super::*;

/// Seed inputs for `decoders`: every honest message, body, certificate, config and save, each
/// behind the selector that routes it to its decoder.
pub fn decoder_seeds() -> Vec<Vec<u8>> {
    let fx = fixture();
    let mut out = Vec::new();
    let with = |sel: u8, pre: &[u8], b: &[u8]| [&[sel], pre, b].concat();
    for m in &fx.honest {
        out.push(with(DEC_ENVELOPE, &[], m));
        if let Ok(raw) = RawEnvelope::parse(m) {
            let k = KINDS.iter().position(|k| *k == raw.kind).unwrap_or(0);
            out.push(with(DEC_BODY, &[u8::try_from(k).unwrap_or(0)], raw.body()));
            if raw.kind == Kind::Log {
                let d = fx.cluster.cfg.dealer_index(&raw.sender).unwrap_or(0);
                out.push(with(
                    DEC_SIGNED_LOG,
                    &[u8::try_from(d).unwrap_or(0)],
                    raw.body(),
                ));
            }
            if let Ok(Body::Deal(deal)) =
                Body::decode(raw.kind, raw.body(), &mut CommitmentCache::default())
            {
                out.push(with(DEC_CRYPTO, &[0], &deal.share.to_bytes()));
                out.push(with(DEC_CRYPTO, &[1], &deal.commitment.to_bytes()));
            }
        }
    }
    out.push(with(DEC_CERTIFICATE, &[], &fx.certificate.encode()));
    for c in &fx.configs {
        out.push(with(DEC_ROUND_CONFIG, &[], c));
    }
    for (i, s) in fx.after_logs.iter().chain(&fx.at_end).enumerate() {
        let me = u8::try_from(i % N).unwrap_or(0);
        out.push(with(DEC_RESUME, &[me], s));
        out.push(with(
            DEC_RESUME_HEADED,
            &[me],
            s.get(SAVE_HEADER..).unwrap_or_default(),
        ));
    }
    out.push(with(
        DEC_CRYPTO,
        &[3],
        &fx.certificate.signature.to_abi_bytes(),
    ));
    out
}

/// Seed inputs for `machines`: the honest round from each starting state, and a few targeted
/// deliveries.
pub fn machine_seeds() -> Vec<Vec<u8>> {
    let all = |sub: u8| vec![OP_ALL, sub];
    let start = |attempt: u8| vec![OP_ALL, ALL_START_ATTEMPT, attempt];
    let agreement = |attempt: u8| {
        [
            start(attempt),
            vec![OP_FLUSH],
            all(ALL_PROPOSE),
            vec![OP_FLUSH],
            all(ALL_FINALIZE),
        ]
        .concat()
    };
    // Produced messages after ALL_DEAL and ALL_END_DEALS: 16 deals, then each player's acks.
    let produced = |i: u8| 0x80 | i;
    let acks_of = |p: u8| produced(16 + p);
    vec![
        // The whole round from fresh players.
        [
            vec![MODE_FRESH],
            all(ALL_DEAL),
            vec![OP_FLUSH],
            all(ALL_END_DEALS),
            vec![OP_FLUSH],
            all(ALL_DEALER_LOG),
            vec![OP_FLUSH],
            agreement(0),
            all(ALL_SAVE_RESUME),
        ]
        .concat(),
        [vec![MODE_AFTER_LOGS], agreement(0), all(ALL_SAVE_RESUME)].concat(),
        [vec![MODE_CERTIFIED], all(ALL_SAVE_RESUME), agreement(1)].concat(),
        // Honest messages to where they are addressed (alone and in a batch with a forged
        // one), a forged one, a cross-round replay.
        vec![
            MODE_FRESH,
            OP_DELIVER,
            0,
            ROUTE_NATURAL,
            OP_BATCH,
            ROUTE_NATURAL,
            1,
            3,
            MUT_NONE,
            4,
            MUT_FLIP,
            0,
            9,
            3,
            OP_DELIVER_MUTATED,
            1,
            MUT_FLIP,
            0,
            40,
            7,
            ROUTE_NATURAL,
            OP_DELIVER_MUTATED,
            20,
            MUT_OTHER_ROUND,
            ROUTE_NATURAL,
        ],
        // A Byzantine player sends a dealer its acks directly instead of broadcasting them;
        // the dealer's log must still pass the public checks.
        [
            vec![MODE_FRESH],
            all(ALL_DEAL),
            vec![OP_FLUSH],
            all(ALL_END_DEALS),
            vec![OP_DEALER_ACKS, 0, acks_of(1), MUT_RECIPIENT_SIGNED, 0],
            vec![OP_FLUSH, OP_DEALER_LOG, 0],
        ]
        .concat(),
        // The leader certifies but its certificate never leaves (nor comes back to it); then
        // every player restarts.
        [
            vec![MODE_AFTER_LOGS],
            start(0),
            vec![OP_FLUSH],
            all(ALL_PROPOSE),
            [OP_STEP, ROUTE_NATURAL].repeat(4),
            vec![OP_DROP],
            all(ALL_SAVE_RESUME),
        ]
        .concat(),
        // A Byzantine leader proposes a set with one log's hash altered, then the honest one.
        [
            vec![MODE_AFTER_LOGS],
            start(0),
            vec![OP_FLUSH],
            all(ALL_PROPOSE),
            vec![OP_STEP, 0],
            vec![
                OP_DELIVER_MUTATED,
                produced(4),
                MUT_BODY,
                0,
                0,
                9,
                1,
                ROUTE_NATURAL,
            ],
            vec![OP_FLUSH],
            all(ALL_FINALIZE),
        ]
        .concat(),
    ]
}
