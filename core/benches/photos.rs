//! Sealed photos (issue 9): sealing and unsealing a 5 MB photo, in MB/s, next to the plain
//! path measured in the same run (hashing and copying the bytes, what staging a photo in a
//! plain store costs).
//!
//! Run: `cargo bench -p gridworker-core --bench photos`

use std::io::{Cursor, Read, Write};
use std::time::{Duration, Instant};

use gridworker_core::test_hooks::photos::seal::{PhotoKey, Sealer, Unsealer, seal_stream};
use sha2::{Digest, Sha256};

const SIZE: usize = 5 * 1024 * 1024;
const ROUNDS: usize = 15;

fn photo() -> Vec<u8> {
    // Pseudo-random bytes (a JPEG body does not compress either).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mb_s(d: Duration) -> f64 {
    SIZE as f64 / 1e6 / d.as_secs_f64()
}

fn main() {
    let key = PhotoKey::derive(&[7u8; 32]).expect("key");
    let bytes = photo();
    let sha: [u8; 32] = Sha256::digest(&bytes).into();

    let plain = median(
        (0..ROUNDS)
            .map(|_| {
                let t = Instant::now();
                let mut out = Vec::with_capacity(SIZE);
                let mut h = Sha256::new();
                for c in bytes.chunks(64 * 1024) {
                    h.update(c);
                    out.write_all(c).expect("copy");
                }
                std::hint::black_box((h.finalize(), out.len()));
                t.elapsed()
            })
            .collect(),
    );

    let mut sealed = Vec::new();
    let seal = median(
        (0..ROUNDS)
            .map(|_| {
                let t = Instant::now();
                let out = seal_stream(
                    &mut Cursor::new(&bytes),
                    Vec::with_capacity(SIZE + SIZE / 1000 + 64),
                    &key,
                    &sha,
                )
                .expect("seal");
                let d = t.elapsed();
                sealed = out;
                d
            })
            .collect(),
    );
    // Staging in a sealed store: hash the source, then seal it while hashing it again.
    let stage = median(
        (0..ROUNDS)
            .map(|_| {
                let t = Instant::now();
                let sha1: [u8; 32] = Sha256::digest(&bytes).into();
                let mut h = Sha256::new();
                let mut s =
                    Sealer::new(Vec::with_capacity(SIZE + 4096), &key, &sha1).expect("sealer");
                for c in bytes.chunks(64 * 1024) {
                    h.update(c);
                    s.write(c).expect("seal");
                }
                std::hint::black_box((h.finalize(), s.finish().expect("finish").len()));
                t.elapsed()
            })
            .collect(),
    );
    let unseal = median(
        (0..ROUNDS)
            .map(|_| {
                let t = Instant::now();
                let mut u = Unsealer::open(Cursor::new(&sealed), std::slice::from_ref(&key), &sha)
                    .expect("open");
                let mut out = Vec::with_capacity(SIZE);
                u.read_to_end(&mut out).expect("unseal");
                let d = t.elapsed();
                assert_eq!(out.len(), SIZE);
                d
            })
            .collect(),
    );
    let overhead = sealed.len() as f64 / SIZE as f64 - 1.0;
    println!(
        "sealed photos, 5 MB photo, median of {ROUNDS} rounds (ChaCha20-Poly1305, 64 KiB chunks)"
    );
    println!(
        "  plain hash+copy (reference): {:8.1} MB/s  {:?}",
        mb_s(plain),
        plain
    );
    println!(
        "  seal:                        {:8.1} MB/s  {:?}",
        mb_s(seal),
        seal
    );
    println!(
        "  stage sealed (hash + seal+hash): {:5.1} MB/s  {:?}  ({:.2}x the plain copy)",
        mb_s(stage),
        stage,
        stage.as_secs_f64() / plain.as_secs_f64()
    );
    println!(
        "  unseal:                      {:8.1} MB/s  {:?}",
        mb_s(unseal),
        unseal
    );
    println!(
        "  size overhead: {:.3}% ({} bytes)",
        overhead * 100.0,
        sealed.len() - SIZE
    );
    // At 1 Mbit/s a 5 MB photo takes 40 s on the wire; the unsealing is what is added.
    println!(
        "  unsealing at upload adds {:.3}% to a 5 MB photo's 40 s at 1 Mbit/s",
        unseal.as_secs_f64() / 40.0 * 100.0
    );
}
