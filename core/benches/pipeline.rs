//! The photo pipeline (issue 14) on a 12 MP phone photo: time to scale, turn upright and
//! re-encode it, next to a full-size decode of the same file measured in the same run (the
//! least any pipeline that looks at the pixels costs); peak heap growth; bytes kept and sent
//! against the original.
//!
//! Run: `cargo bench -p gridworker-core --bench pipeline`

use std::time::{Duration, Instant};

use gridworker_testkit::alloc::{Counting, peak_growth};
use gridworker_testkit::photos::CameraPhoto;

#[global_allocator]
static ALLOC: Counting = Counting;

const ROUNDS: usize = 9;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn timed(mut f: impl FnMut()) -> Duration {
    median(
        (0..ROUNDS)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let camera = CameraPhoto {
        orientation: 6,
        taken_at: chrono::DateTime::parse_from_rfc3339("2026-11-30T09:15:00+08:00").ok(),
        gps: Some((45.2959606, 130.9428047)),
        ..CameraPhoto::twelve_mp(1)
    };
    let original = camera.jpeg();

    let full_decode = timed(|| {
        let mut d = jpeg_decoder::Decoder::new(&original[..]);
        std::hint::black_box(d.decode().expect("decode"));
    });
    let mut sent = Vec::new();
    let pipeline = timed(|| {
        let p = gridworker_core::photo::prepare(original.clone(), 1600, 80).expect("prepare");
        sent = p.bytes;
    });
    let copy = original.clone();
    let (_, peak) =
        peak_growth(|| gridworker_core::photo::prepare(copy, 1600, 80).expect("prepare"));
    // The same photo already within the edge and upright: only the metadata goes.
    let small = CameraPhoto {
        width: 1600,
        height: 1200,
        orientation: 1,
        ..camera.clone()
    }
    .jpeg();
    let strip_only = timed(|| {
        std::hint::black_box(
            gridworker_core::photo::prepare(small.clone(), 1600, 80).expect("prepare"),
        );
    });

    println!(
        "photo pipeline, 12 MP (4000 x 3000) phone photo, sideways (EXIF orientation 6), median of {ROUNDS} (pin to one core: taskset -c 0 on the bench binary)"
    );
    println!(
        "  scale + upright + re-encode to 1600 px q80: {:7.1} ms (goal <= 400 ms); {:.2}x a full-size decode of the same file ({:.1} ms, the reference)",
        pipeline.as_secs_f64() * 1e3,
        pipeline.as_secs_f64() / full_decode.as_secs_f64(),
        full_decode.as_secs_f64() * 1e3
    );
    println!(
        "  peak heap growth: {:.1} MB, the original's {:.1} MB included (goal <= 64 MB)",
        peak as f64 / 1e6,
        original.len() as f64 / 1e6
    );
    println!(
        "  bytes: original {} -> sent {}: {:.1}x smaller (goal >= 8x)",
        original.len(),
        sent.len(),
        original.len() as f64 / sent.len() as f64
    );
    println!(
        "  a 1600 x 1200 photo already upright: {:.1} ms (checked at 1/8 scale, metadata stripped)",
        strip_only.as_secs_f64() * 1e3
    );
}
