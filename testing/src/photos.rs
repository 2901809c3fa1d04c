//! Test photos: real JPEGs, from a tiny one of an exact size (for upload and storage tests)
//! to a 12 MP camera-like photo with phone EXIF (for the photo pipeline).
//!
//! The camera-like picture is smooth shapes under per-pixel sensor noise, which is what makes
//! a phone's JPEG 3-5 MB at 12 MP; its EXIF is what a phone camera writes: make and model,
//! orientation, `DateTimeOriginal` with `OffsetTimeOriginal`, and WGS-84 GPS. An XMP packet
//! repeats the position, so a test can prove it is gone too.

use chrono::{DateTime, FixedOffset};
use exif::{Field, In, Rational, Tag, Value};

/// A real JPEG of exactly `size` bytes: a square of seeded noise (at most 1600 px, so the
/// photo pipeline keeps it byte for byte) encoded at quality 100, ending with JPEG fill
/// bytes (0xFF, which decoders skip) up to the size. Distinct seeds give distinct photos.
/// Sizes below the smallest image (16 x 16, about 1 KB) give that image.
pub fn jpeg(size: usize, seed: u64) -> Vec<u8> {
    let mut side = ((size as f64 / 3.2).sqrt() as u32 / 8 * 8).clamp(16, 1600);
    loop {
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let n = side as usize * side as usize * 3;
        let pixels: Vec<u8> = (0..n).map(|_| (next(&mut rng) >> 32) as u8).collect();
        let mut out = Vec::new();
        let _ = jpeg_encoder::Encoder::new(&mut out, 100).encode(
            &pixels,
            side as u16,
            side as u16,
            jpeg_encoder::ColorType::Rgb,
        );
        if out.len() <= size.saturating_sub(2) || side <= 16 {
            if out.len() < size {
                // Before the final EOI marker: fill bytes, then EOI again.
                out.truncate(out.len() - 2);
                out.resize(size - 2, 0xFF);
                out.extend_from_slice(&[0xFF, 0xD9]);
            }
            return out;
        }
        side = (side * 9 / 10 / 8 * 8).max(16);
    }
}

fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// What a camera photo says about itself.
#[derive(Debug, Clone)]
pub struct CameraPhoto {
    pub width: u32,
    pub height: u32,
    /// TIFF orientation 1-8 (6: the phone was held upright, the sensor stored it sideways).
    pub orientation: u16,
    /// Local capture time with its offset (written as DateTimeOriginal + OffsetTimeOriginal).
    pub taken_at: Option<DateTime<FixedOffset>>,
    /// WGS-84 latitude and longitude.
    pub gps: Option<(f64, f64)>,
    pub seed: u64,
    pub quality: u8,
}

impl CameraPhoto {
    /// A 4000 x 3000 (12 MP) photo as a phone writes it: quality 92, no orientation, no time
    /// or position (set them).
    pub fn twelve_mp(seed: u64) -> CameraPhoto {
        CameraPhoto {
            width: 4000,
            height: 3000,
            orientation: 1,
            taken_at: None,
            gps: None,
            seed,
            quality: 92,
        }
    }

    /// The pixels, RGB: the top-left quarter is red, the rest follows from the seed (so a
    /// test can see where the top left went after the photo was turned upright). Texture at
    /// 5 and 23 px (value noise: walls, foliage, pavement) and sensor noise per pixel, so it
    /// compresses like a phone photo, before and after scaling.
    pub fn pixels(&self) -> Vec<u8> {
        let (w, h) = (self.width as usize, self.height as usize);
        let fine = Lattice::new(5, w, h, self.seed ^ 0xF1);
        let coarse = Lattice::new(23, w, h, self.seed ^ 0xC0);
        let mut rng = self.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
        let mut out = Vec::with_capacity(w * h * 3);
        let (fw, fh) = (w as f32, h as f32);
        for y in 0..h {
            let fy = y as f32 / fh;
            for x in 0..w {
                let fx = x as f32 / fw;
                let n = next(&mut rng);
                let texture = fine.at(x, y) * 28.0 + coarse.at(x, y) * 40.0;
                let sensor = |k: u32| ((n >> k) & 0x0F) as f32 - 8.0;
                let base = if x < w / 2 && y < h / 2 {
                    [200.0, 30.0, 30.0]
                } else {
                    let wave = (fx * 23.0).sin() * (fy * 17.0).cos() * 50.0;
                    [
                        90.0 + wave + fy * 80.0 + texture,
                        110.0 + fx * 70.0 - wave / 2.0 + texture * 0.8,
                        140.0 - fy * 60.0 + wave / 3.0 + texture * 0.6,
                    ]
                };
                for (c, b) in base.iter().enumerate() {
                    out.push((b + sensor(c as u32 * 5)).clamp(0.0, 255.0) as u8);
                }
            }
        }
        out
    }

    /// The JPEG file, with EXIF and (with a position) an XMP packet.
    pub fn jpeg(&self) -> Vec<u8> {
        let pixels = self.pixels();
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, self.quality);
        let _ = enc.add_app_segment(1, &self.exif());
        if let Some((lat, lon)) = self.gps {
            let xmp = format!(
                "http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><exif:GPSLatitude>{lat}</exif:GPSLatitude><exif:GPSLongitude>{lon}</exif:GPSLongitude></x:xmpmeta>"
            );
            let _ = enc.add_app_segment(1, xmp.as_bytes());
        }
        let _ = enc.encode(
            &pixels,
            self.width as u16,
            self.height as u16,
            jpeg_encoder::ColorType::Rgb,
        );
        out
    }

    /// The APP1 EXIF segment's payload (`Exif\0\0` and a TIFF structure).
    pub fn exif(&self) -> Vec<u8> {
        let ascii = |s: &str| Value::Ascii(vec![s.as_bytes().to_vec()]);
        let mut fields = vec![
            field(Tag::Make, ascii("HUAWEI")),
            field(Tag::Model, ascii("ALN-AL00")),
            field(Tag::Orientation, Value::Short(vec![self.orientation])),
        ];
        if let Some(t) = self.taken_at {
            fields.push(field(
                Tag::DateTimeOriginal,
                ascii(&t.format("%Y:%m:%d %H:%M:%S").to_string()),
            ));
            fields.push(field(
                Tag::OffsetTimeOriginal,
                ascii(&t.format("%:z").to_string()),
            ));
        }
        if let Some((lat, lon)) = self.gps {
            fields.push(field(
                Tag::GPSLatitudeRef,
                ascii(if lat < 0.0 { "S" } else { "N" }),
            ));
            fields.push(field(Tag::GPSLatitude, dms(lat.abs())));
            fields.push(field(
                Tag::GPSLongitudeRef,
                ascii(if lon < 0.0 { "W" } else { "E" }),
            ));
            fields.push(field(Tag::GPSLongitude, dms(lon.abs())));
            fields.push(field(Tag::GPSMapDatum, ascii("WGS-84")));
        }
        let mut w = exif::experimental::Writer::new();
        for f in &fields {
            w.push_field(f);
        }
        let mut tiff = std::io::Cursor::new(Vec::new());
        let _ = w.write(&mut tiff, false);
        let mut out = b"Exif\0\0".to_vec();
        out.extend(tiff.into_inner());
        out
    }
}

/// Value noise: random values on a lattice of `cell` pixels, interpolated (-1 to 1).
struct Lattice {
    cell: usize,
    cols: usize,
    values: Vec<f32>,
}

impl Lattice {
    fn new(cell: usize, w: usize, h: usize, seed: u64) -> Lattice {
        let cols = w / cell + 2;
        let rows = h / cell + 2;
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let values = (0..cols * rows)
            .map(|_| (next(&mut rng) >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
            .collect();
        Lattice { cell, cols, values }
    }

    fn at(&self, x: usize, y: usize) -> f32 {
        let (cx, cy) = (x / self.cell, y / self.cell);
        let (tx, ty) = (
            (x % self.cell) as f32 / self.cell as f32,
            (y % self.cell) as f32 / self.cell as f32,
        );
        let v = |i: usize, j: usize| self.values.get(j * self.cols + i).copied().unwrap_or(0.0);
        let top = v(cx, cy) * (1.0 - tx) + v(cx + 1, cy) * tx;
        let bottom = v(cx, cy + 1) * (1.0 - tx) + v(cx + 1, cy + 1) * tx;
        top * (1.0 - ty) + bottom * ty
    }
}

fn field(tag: Tag, value: Value) -> Field {
    Field {
        tag,
        ifd_num: In::PRIMARY,
        value,
    }
}

fn dms(deg: f64) -> Value {
    let d = deg.trunc();
    let m = ((deg - d) * 60.0).trunc();
    let s = ((deg - d) * 60.0 - m) * 60.0;
    Value::Rational(vec![
        Rational::from((d as u32, 1)),
        Rational::from((m as u32, 1)),
        Rational::from(((s * 10_000.0).round() as u32, 10_000)),
    ])
}
