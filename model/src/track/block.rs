//! The compact encoding of a block of track fixes, on the phone and on the wire (issue 13,
//! item 3): a fixed header, then per fix zigzag-varint deltas from the fix before. At 1 Hz
//! on foot a fix takes 7-8 bytes.
//!
//! ```text
//! block   = version (1 byte, = 1) | count (varint, 1..=MAX_FIXES)
//!           | t0 (i64 ms, big-endian) | lat0 | lon0 (i32, 1e-7 degrees, big-endian)
//!           | fix*count
//! fix     = dt (varint, ms since the previous fix, 0 for the first)
//!           | dlat | dlon (zigzag varint, 1e-7 degrees from the previous fix)
//!           | acc_mock (varint: accuracy in decimetres << 1 | mock)
//! ```
//!
//! Positions are kept to 1e-7 degrees (about 1 cm), accuracy to 1 dm, times to the
//! millisecond. Decoding checks every bound and never panics: a block comes from a phone.

use crate::geo::Position;
use crate::invalid::Invalid;

use super::TrackFix;

const VERSION: u8 = 1;
/// Most fixes in one block (an hour at 1 Hz).
pub const MAX_FIXES: usize = 3600;
/// Longest time one block may span, first fix to last: a phone's batch spans at most this
/// (a batch is a few seconds of callbacks), and a day's blocks are found by their start.
pub const MAX_SPAN_MS: i64 = 24 * 3600 * 1000;
/// Largest accuracy kept (m); a worse fix is stored at this value.
const MAX_ACCURACY_DM: u64 = 100_000;

fn e7(deg: f64) -> i64 {
    (deg * 1e7).round() as i64
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Encodes up to [`MAX_FIXES`] fixes (in time order) into one block.
pub fn encode(fixes: &[TrackFix]) -> Result<Vec<u8>, Invalid> {
    let Some(first) = fixes.first() else {
        return Err(Invalid::new("fixes", "a block holds at least one fix"));
    };
    if fixes.len() > MAX_FIXES {
        return Err(Invalid::new(
            "fixes",
            format!("a block holds at most {MAX_FIXES} fixes"),
        ));
    }
    let mut out = Vec::with_capacity(18 + fixes.len() * 8);
    out.push(VERSION);
    put_varint(&mut out, fixes.len() as u64);
    out.extend_from_slice(&first.t_ms.to_be_bytes());
    let (lat0, lon0) = (e7(first.position.lat), e7(first.position.lon));
    out.extend_from_slice(&(lat0 as i32).to_be_bytes());
    out.extend_from_slice(&(lon0 as i32).to_be_bytes());
    let (mut t, mut lat, mut lon) = (first.t_ms, lat0, lon0);
    for (i, f) in fixes.iter().enumerate() {
        crate::validate::position(&format!("fixes[{i}]"), &f.position)?;
        let dt = f.t_ms - t;
        if dt < 0 || (i > 0 && dt == 0) {
            return Err(Invalid::new(
                format!("fixes[{i}].time"),
                "is not after the fix before",
            ));
        }
        let (la, lo) = (e7(f.position.lat), e7(f.position.lon));
        put_varint(&mut out, dt as u64);
        put_varint(&mut out, zigzag(la - lat));
        put_varint(&mut out, zigzag(lo - lon));
        if !f.accuracy_m.is_finite() || f.accuracy_m < 0.0 {
            return Err(Invalid::new(
                format!("fixes[{i}].accuracy_m"),
                "must be a finite number of at least 0",
            ));
        }
        let acc_dm = ((f.accuracy_m * 10.0).round() as u64).min(MAX_ACCURACY_DM);
        put_varint(&mut out, acc_dm << 1 | u64::from(f.mock));
        (t, lat, lon) = (f.t_ms, la, lo);
    }
    Ok(out)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn bad(&self, what: &str) -> Invalid {
        Invalid::new("block", format!("{what} at byte {}", self.at))
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], Invalid> {
        let s = self
            .bytes
            .get(self.at..self.at + N)
            .ok_or_else(|| self.bad("ends early"))?;
        self.at += N;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn varint(&mut self) -> Result<u64, Invalid> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let [b] = self.take::<1>()?;
            v |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.bad("a number longer than 64 bits"))
    }
}

/// Decodes a block. Every fix's time, position and accuracy is checked.
pub fn decode(bytes: &[u8]) -> Result<Vec<TrackFix>, Invalid> {
    let mut r = Reader { bytes, at: 0 };
    let [version] = r.take::<1>()?;
    if version != VERSION {
        return Err(r.bad("an unknown version"));
    }
    let count = usize::try_from(r.varint()?).unwrap_or(usize::MAX);
    if count == 0 || count > MAX_FIXES {
        return Err(r.bad("a fix count out of range"));
    }
    let mut t = i64::from_be_bytes(r.take::<8>()?);
    let mut lat = i64::from(i32::from_be_bytes(r.take::<4>()?));
    let mut lon = i64::from(i32::from_be_bytes(r.take::<4>()?));
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let dt = i64::try_from(r.varint()?).map_err(|_| r.bad("a time step out of range"))?;
        if i > 0 && dt == 0 {
            return Err(r.bad("two fixes at the same time"));
        }
        t = t
            .checked_add(dt)
            .ok_or_else(|| r.bad("a time out of range"))?;
        lat = lat
            .checked_add(unzigzag(r.varint()?))
            .ok_or_else(|| r.bad("a latitude out of range"))?;
        lon = lon
            .checked_add(unzigzag(r.varint()?))
            .ok_or_else(|| r.bad("a longitude out of range"))?;
        let acc = r.varint()?;
        let position = Position::new(lat as f64 / 1e7, lon as f64 / 1e7);
        crate::validate::position("block.position", &position)
            .map_err(|_| r.bad("a position out of range"))?;
        if acc >> 1 > MAX_ACCURACY_DM {
            return Err(r.bad("an accuracy out of range"));
        }
        out.push(TrackFix {
            t_ms: t,
            position,
            accuracy_m: (acc >> 1) as f64 / 10.0,
            mock: acc & 1 == 1,
        });
    }
    if r.at != bytes.len() {
        return Err(r.bad("bytes after the last fix"));
    }
    Ok(out)
}
