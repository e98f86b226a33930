//! The project's JSON shapes: integers as decimal strings, G1 as {"x","y"}, G2 as
//! {"x": [c1, c0], "y": [c1, c0]} (Solidity order).

use kms_crypto::bn254::{G1Point, G2Point};
use serde_json::{json, Value};

pub fn g1(p: &G1Point) -> Value {
    json!({ "x": p.x_dec(), "y": p.y_dec() })
}

pub fn g2(p: &G2Point) -> Value {
    let (x, y) = p.to_dec();
    json!({ "x": x, "y": y })
}
