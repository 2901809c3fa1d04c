//! Generated patrol walks for the track tests: a worker walking a grid of streets (legs of
//! 40-200 m at right angles, 1.0-1.6 m/s, stops of 1-3 min at points), fixes at 1 Hz whose
//! error is what phone GNSS shows in a residential compound: a slowly wandering bias
//! (correlated over about 40 s) plus white noise, both scaled by the reported accuracy, which
//! itself moves between 3 and 30 m (open sky, between buildings); indoor stops with no fix at
//! all; rare multipath jumps of 80-300 m.
#![allow(dead_code)]

use gridworker_model::geo::Position;
use gridworker_model::track::TrackFix;

pub const START: Position = Position {
    lat: 45.2950,
    lon: 130.9700,
};
const M_PER_DEG_LAT: f64 = 111_195.0;

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-12), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

pub fn at(east_m: f64, north_m: f64) -> Position {
    let cos = START.lat.to_radians().cos();
    Position::new(
        START.lat + north_m / M_PER_DEG_LAT,
        START.lon + east_m / (M_PER_DEG_LAT * cos),
    )
}

/// GPS error: a bias wandering with correlation time `tau` and white noise, per axis.
pub struct Error {
    pub bias: (f64, f64),
    pub tau_s: f64,
}

impl Error {
    pub fn sample(&mut self, rng: &mut Rng, accuracy: f64) -> (f64, f64) {
        let a = (-1.0 / self.tau_s).exp();
        let s = (1.0 - a * a).sqrt() * accuracy / 2.5;
        self.bias = (
            a * self.bias.0 + s * rng.normal(),
            a * self.bias.1 + s * rng.normal(),
        );
        let w = accuracy / 4.0;
        (
            self.bias.0 + w * rng.normal(),
            self.bias.1 + w * rng.normal(),
        )
    }
}

pub struct Walk {
    pub fixes: Vec<TrackFix>,
    pub true_m: f64,
}

/// About `minutes` of patrol.
pub fn walk(seed: u64, minutes: u32) -> Walk {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut err = Error {
        bias: (0.0, 0.0),
        tau_s: 40.0,
    };
    let (mut x, mut y) = (0.0f64, 0.0f64);
    let mut heading = (rng.next() % 4) as i32;
    let mut t = 0i64;
    let end = i64::from(minutes) * 60;
    let mut fixes = Vec::new();
    let mut true_m = 0.0;
    let mut accuracy: f64 = 6.0;
    let mut emit = |t: i64, x: f64, y: f64, accuracy: f64, rng: &mut Rng, err: &mut Error| {
        let (ex, ey) = err.sample(rng, accuracy);
        let (ex, ey) = if rng.unit() < 0.005 {
            // Multipath: a fix far off, still claiming a modest accuracy.
            let d = rng.range(80.0, 300.0);
            let a = rng.range(0.0, std::f64::consts::TAU);
            (d * a.cos(), d * a.sin())
        } else {
            (ex, ey)
        };
        fixes.push(TrackFix {
            t_ms: 1_764_000_000_000 + t * 1000,
            position: at(x + ex, y + ey),
            accuracy_m: accuracy,
            mock: false,
        });
    };
    while t < end {
        // A leg along a street; between buildings the fixes are worse.
        let leg = rng.range(40.0, 200.0);
        let speed = rng.range(1.0, 1.6);
        let target: f64 = if rng.unit() < 0.4 {
            rng.range(10.0, 30.0)
        } else {
            rng.range(3.0, 8.0)
        };
        let (dx, dy) =
            [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)][heading.rem_euclid(4) as usize];
        let steps = (leg / speed).round() as i64;
        for _ in 0..steps {
            x += dx * speed;
            y += dy * speed;
            true_m += speed;
            t += 1;
            accuracy += (target - accuracy) * 0.05;
            emit(t, x, y, accuracy, &mut rng, &mut err);
        }
        heading += if rng.unit() < 0.5 { 1 } else { -1 };
        // Stops at a point: standing outside, or inside a stairwell with no fix at all.
        if rng.unit() < 0.3 {
            let stop = rng.range(60.0, 180.0) as i64;
            let indoors = rng.unit() < 0.3;
            for _ in 0..stop {
                t += 1;
                if !indoors {
                    emit(t, x, y, accuracy, &mut rng, &mut err);
                }
            }
        }
    }
    Walk { fixes, true_m }
}

/// A joystick app's track: straight legs at a constant speed, positions exactly on the line
/// but for `jitter_m` of scatter, a constant claimed accuracy.
pub fn joystick(seed: u64, minutes: u32, jitter_m: f64) -> Vec<TrackFix> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (mut x, mut y) = (0.0f64, 0.0f64);
    let mut heading = 0i32;
    let mut out = Vec::new();
    let mut t = 0i64;
    while t < i64::from(minutes) * 60 {
        let (dx, dy) =
            [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)][heading.rem_euclid(4) as usize];
        for _ in 0..120 {
            x += dx * 1.4;
            y += dy * 1.4;
            t += 1;
            out.push(TrackFix {
                t_ms: 1_764_000_000_000 + t * 1000,
                position: at(x + jitter_m * rng.normal(), y + jitter_m * rng.normal()),
                accuracy_m: 5.0,
                mock: false,
            });
        }
        heading += 1;
    }
    out
}
