//! Incremental decoding: a causal block fed a prompt and then one position
//! at a time through its KV cache gives what the whole sequence gives at
//! once, one submit a token (a decoder block with cross attention too);
//! and what the cache refuses.

use shadergrad::nn::{CausalBlock, DecoderBlock, KvCache, Module, Positions, Stateful};
use shadergrad::{Device, Error, Tensor, no_grad};

/// dim 12 in 3 heads, a batch of 2, 7 positions: the prompt is 3 of them.
const B: usize = 2;
const N: usize = 7;
const DIM: usize = 12;
const PROMPT: usize = 3;

fn block(d: &Device) -> CausalBlock {
    d.manual_seed(3);
    let b = CausalBlock::new(d, DIM, 3, 20, 0.0).unwrap();
    b.eval();
    b
}

#[test]
fn cached_decoding_matches_the_whole_sequence_one_submit_a_token() {
    let d = Device::new().unwrap();
    let _g = no_grad();
    let blk = block(&d);
    let x = Tensor::randn(&d, &[B, N, DIM]).unwrap();
    let whole = blk.forward(&x).unwrap().to_vec::<f32>().unwrap();
    let mut cache = KvCache::new(1, N);
    let mut got = vec![vec![]; B];
    for (start, len) in std::iter::once((0, PROMPT)).chain((PROMPT..N).map(|i| (i, 1))) {
        let before = d.counters();
        let y = blk
            .forward_cached(&x.narrow(1, start, len).unwrap(), &mut cache.layers[0])
            .unwrap();
        let mut all = cache.tensors();
        all.push(&y);
        Tensor::realize_all(&all).unwrap();
        cache.detach();
        assert_eq!(
            (d.counters() - before).submits,
            1,
            "positions {start}+{len}"
        );
        let y = y.to_vec::<f32>().unwrap();
        for (b, row) in got.iter_mut().enumerate() {
            row.extend_from_slice(&y[b * len * DIM..(b + 1) * len * DIM]);
        }
        assert_eq!(cache.len(), start + len);
    }
    let got: Vec<f32> = got.concat();
    for (i, (g, w)) in got.iter().zip(&whole).enumerate() {
        assert!((g - w).abs() < 1e-4, "{i}: cached {g} vs whole {w}");
    }
}

#[test]
fn a_decoder_block_decodes_through_its_cache_as_over_the_whole_target() {
    let d = Device::new().unwrap();
    let _g = no_grad();
    d.manual_seed(4);
    let blk = DecoderBlock::new(&d, DIM, 3, 20, 0.0).unwrap();
    blk.eval();
    let x = Tensor::randn(&d, &[B, N, DIM]).unwrap();
    // A source of 5 positions, the second row's last 2 padding.
    let memory = Tensor::randn(&d, &[B, 5, DIM]).unwrap();
    let lens = Tensor::from_slice(&d, &[5i32, 3], &[B]).unwrap();
    let whole = blk.decode(&x, &memory, Some(&lens)).unwrap();
    let whole = whole.to_vec::<f32>().unwrap();
    let mut cache = KvCache::new(1, N);
    for t in 0..N {
        let y = blk
            .decode_cached(
                &x.narrow(1, t, 1).unwrap(),
                &memory,
                Some(&lens),
                &mut cache.layers[0],
            )
            .unwrap();
        let mut all = cache.tensors();
        all.push(&y);
        Tensor::realize_all(&all).unwrap();
        cache.detach();
        let y = y.to_vec::<f32>().unwrap();
        for b in 0..B {
            for i in 0..DIM {
                let (g, w) = (y[b * DIM + i], whole[(b * N + t) * DIM + i]);
                assert!(
                    (g - w).abs() < 1e-4,
                    "row {b} position {t}: cached {g} vs whole {w}"
                );
            }
        }
    }
}

#[test]
fn the_cache_takes_one_position_at_a_time_and_stops_at_the_table() {
    let d = Device::new().unwrap();
    let _g = no_grad();
    let blk = block(&d);
    let mut cache = KvCache::new(1, 4);
    let x = Tensor::randn(&d, &[1, 3, DIM]).unwrap();
    blk.forward_cached(&x, &mut cache.layers[0]).unwrap();
    match blk.forward_cached(&x.narrow(1, 0, 2).unwrap(), &mut cache.layers[0]) {
        Err(Error::InvalidArgument { op, shape, msg }) => {
            assert_eq!((op, shape), ("cached attention", vec![1, 2, DIM]));
            assert!(msg.contains("3 cached"), "{msg}");
        }
        other => panic!("expected InvalidArgument, got {:?}", other.map(|_| ())),
    }
    assert!(cache.check_room("gpt", &[1, 1], 1).is_ok());
    match cache.check_room("gpt", &[1, 2], 2) {
        Err(Error::InvalidArgument { op: "gpt", msg, .. }) => {
            assert!(msg.contains("table's 4"), "{msg}")
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    let pos = Positions::learned(&d, 4, DIM).unwrap();
    assert!(pos.add_at(&x.narrow(1, 0, 1).unwrap(), 3).is_ok());
    match pos.add_at(&x.narrow(1, 0, 2).unwrap(), 3) {
        Err(Error::InvalidArgument { msg, .. }) => assert!(msg.contains("3..5"), "{msg}"),
        other => panic!("expected InvalidArgument, got {:?}", other.map(|_| ())),
    }
}
