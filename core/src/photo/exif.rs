//! What a photo says about itself: its orientation, when and where it was taken, read from
//! its EXIF before the EXIF is stripped. Evidence only: an EXIF block that cannot be read,
//! or a value out of range, yields nothing, never an error (the photo is still the worker's).

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use exif::{In, Reader, Tag, Value};

use crate::geo::Position;

/// The zone of an EXIF time without `OffsetTimeOriginal`: China Standard Time, where the
/// app's phones are (a phone camera writes local time).
const DEFAULT_OFFSET_S: i32 = 8 * 3600;

/// What the EXIF says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExifFacts {
    /// TIFF orientation 1-8 (1: upright, as stored).
    pub orientation: u8,
    pub taken_at: Option<DateTime<Utc>>,
    /// GPS position, taken as WGS-84 (what a phone camera writes; docs/protocol.md §5.3).
    pub position: Option<Position>,
}

impl Default for ExifFacts {
    fn default() -> Self {
        ExifFacts {
            orientation: 1,
            taken_at: None,
            position: None,
        }
    }
}

/// Reads the TIFF structure of an EXIF block (what follows `Exif\0\0` in APP1).
pub fn read(tiff: &[u8]) -> ExifFacts {
    // Lenient: cameras and editors write small deviations (piexif, for one, links its EXIF
    // and GPS IFDs to a "next" IFD); what could be read is still evidence.
    let exif = match Reader::new()
        .continue_on_error(true)
        .read_raw(tiff.to_vec())
    {
        Ok(exif) => exif,
        Err(exif::Error::PartialResult(partial)) => partial.into_inner().0,
        Err(_) => return ExifFacts::default(),
    };
    let field = |tag| exif.get_field(tag, In::PRIMARY).map(|f| &f.value);
    let orientation = field(Tag::Orientation)
        .and_then(|v| v.get_uint(0))
        .and_then(|o| u8::try_from(o).ok())
        .filter(|o| (1..=8).contains(o))
        .unwrap_or(1);
    ExifFacts {
        orientation,
        taken_at: taken_at(
            field(Tag::DateTimeOriginal).or(field(Tag::DateTimeDigitized)),
            field(Tag::OffsetTimeOriginal),
        ),
        position: position(
            field(Tag::GPSLatitude),
            field(Tag::GPSLatitudeRef),
            field(Tag::GPSLongitude),
            field(Tag::GPSLongitudeRef),
        ),
    }
}

fn ascii(v: Option<&Value>) -> Option<&[u8]> {
    match v? {
        Value::Ascii(parts) => parts.first().map(Vec::as_slice),
        _ => None,
    }
}

fn taken_at(time: Option<&Value>, offset: Option<&Value>) -> Option<DateTime<Utc>> {
    let mut t = exif::DateTime::from_ascii(ascii(time)?).ok()?;
    let offset_s = match ascii(offset) {
        Some(o) if t.parse_offset(o).is_ok() => i32::from(t.offset.unwrap_or(0)) * 60,
        _ => DEFAULT_OFFSET_S,
    };
    let local = NaiveDate::from_ymd_opt(i32::from(t.year), u32::from(t.month), u32::from(t.day))?
        .and_hms_nano_opt(
        u32::from(t.hour),
        u32::from(t.minute),
        u32::from(t.second),
        t.nanosecond.unwrap_or(0),
    )?;
    let at = FixedOffset::east_opt(offset_s)?
        .from_local_datetime(&local)
        .single()?
        .with_timezone(&Utc);
    crate::validate::time("exif_time", &at).ok()?;
    Some(at)
}

fn degrees(v: Option<&Value>) -> Option<f64> {
    let Value::Rational(r) = v? else { return None };
    let part = |i: usize| {
        r.get(i)
            .filter(|x| x.denom != 0)
            .map(|x| x.to_f64())
            .unwrap_or(0.0)
    };
    r.first().filter(|x| x.denom != 0)?;
    Some(part(0) + part(1) / 60.0 + part(2) / 3600.0)
}

fn position(
    lat: Option<&Value>,
    lat_ref: Option<&Value>,
    lon: Option<&Value>,
    lon_ref: Option<&Value>,
) -> Option<Position> {
    let sign = |r: Option<&Value>, negative: u8| match ascii(r).and_then(|a| a.first()) {
        Some(c) if c.eq_ignore_ascii_case(&negative) => -1.0,
        _ => 1.0,
    };
    let p = Position::new(
        degrees(lat)? * sign(lat_ref, b'S'),
        degrees(lon)? * sign(lon_ref, b'W'),
    );
    // 0,0 is what a camera without a fix writes.
    if p.lat == 0.0 && p.lon == 0.0 {
        return None;
    }
    crate::validate::position("exif_position", &p).ok()?;
    Some(p)
}
