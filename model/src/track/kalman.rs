//! A constant-velocity Kalman filter with a Rauch-Tung-Striebel smoother, one axis at a time
//! (east and north are independent when the fix's error is a circle).
//!
//! State: position p (m) and velocity v (m/s). Process noise: white acceleration of spectral
//! density `q` (m²/s³), the usual model of a walker who speeds up, slows down and turns.
//! Each measurement has its own variance (from the fix's reported accuracy).

/// A 2 x 2 symmetric covariance [pp, pv; pv, vv].
#[derive(Debug, Clone, Copy, Default)]
struct Cov {
    pp: f64,
    pv: f64,
    vv: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Step {
    /// Predicted state and covariance (before the measurement).
    p_pred: f64,
    v_pred: f64,
    c_pred: Cov,
    /// Filtered state and covariance (after it).
    p: f64,
    v: f64,
    c: Cov,
    /// Time since the previous step (s).
    dt: f64,
}

/// Smoothed positions and speeds (one per measurement) of a series of measurements
/// `(time s, position m, variance m²)` on one axis. Times must increase.
pub fn smooth(measurements: &[(f64, f64, f64)], q: f64) -> Vec<(f64, f64)> {
    let mut steps: Vec<Step> = Vec::with_capacity(measurements.len());
    for (i, &(t, z, r)) in measurements.iter().enumerate() {
        let step = match steps.last() {
            None => {
                // Unknown velocity at the start: a walker's pace, uncertain.
                let c = Cov {
                    pp: r,
                    pv: 0.0,
                    vv: 4.0,
                };
                Step {
                    p_pred: z,
                    v_pred: 0.0,
                    c_pred: c,
                    p: z,
                    v: 0.0,
                    c,
                    dt: 0.0,
                }
            }
            Some(prev) => {
                let dt = (t - measurements[i - 1].0).max(1e-3);
                let p_pred = prev.p + prev.v * dt;
                let v_pred = prev.v;
                let c = prev.c;
                let c_pred = Cov {
                    pp: c.pp + 2.0 * dt * c.pv + dt * dt * c.vv + q * dt.powi(3) / 3.0,
                    pv: c.pv + dt * c.vv + q * dt * dt / 2.0,
                    vv: c.vv + q * dt,
                };
                let s = c_pred.pp + r;
                let (kp, kv) = (c_pred.pp / s, c_pred.pv / s);
                let innovation = z - p_pred;
                Step {
                    p_pred,
                    v_pred,
                    c_pred,
                    p: p_pred + kp * innovation,
                    v: v_pred + kv * innovation,
                    c: Cov {
                        pp: (1.0 - kp) * c_pred.pp,
                        pv: (1.0 - kp) * c_pred.pv,
                        vv: c_pred.vv - kv * c_pred.pv,
                    },
                    dt,
                }
            }
        };
        steps.push(step);
    }
    // Backwards: each state corrected by what came after it.
    let mut out = vec![(0.0, 0.0); steps.len()];
    let Some(last) = steps.last() else {
        return out;
    };
    let (mut p_s, mut v_s) = (last.p, last.v);
    if let Some(o) = out.last_mut() {
        *o = (p_s, v_s);
    }
    for i in (0..steps.len().saturating_sub(1)).rev() {
        let (cur, next) = (steps[i], steps[i + 1]);
        let dt = next.dt;
        // Gain A = C F^T (C_pred_next)^-1, with F = [1 dt; 0 1].
        let c = cur.c;
        let (f_pp, f_pv, f_vp, f_vv) = (c.pp + dt * c.pv, c.pv, c.pv + dt * c.vv, c.vv);
        let n = next.c_pred;
        let det = n.pp * n.vv - n.pv * n.pv;
        if det.abs() < 1e-12 {
            out[i] = (cur.p, cur.v);
            p_s = cur.p;
            v_s = cur.v;
            continue;
        }
        let (i_pp, i_pv, i_vv) = (n.vv / det, -n.pv / det, n.pp / det);
        let a = [
            [f_pp * i_pp + f_pv * i_pv, f_pp * i_pv + f_pv * i_vv],
            [f_vp * i_pp + f_vv * i_pv, f_vp * i_pv + f_vv * i_vv],
        ];
        let (dp, dv) = (p_s - next.p_pred, v_s - next.v_pred);
        p_s = cur.p + a[0][0] * dp + a[0][1] * dv;
        v_s = cur.v + a[1][0] * dp + a[1][1] * dv;
        out[i] = (p_s, v_s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_walk_is_recovered_from_noisy_positions() {
        // 1.4 m/s for 300 s, measured every second with +-5 m of (deterministic) noise.
        let noise = |i: usize| ((i * 7919) % 11) as f64 - 5.0;
        let m: Vec<_> = (0..300)
            .map(|i| (i as f64, 1.4 * i as f64 + noise(i), 25.0))
            .collect();
        let s = smooth(&m, 0.05);
        for (i, (p, v)) in s.iter().enumerate().skip(20).take(260) {
            assert!((p - 1.4 * i as f64).abs() < 2.5, "{i}: {p}");
            assert!((v - 1.4).abs() < 0.3, "{i}: {v}");
        }
    }
}
