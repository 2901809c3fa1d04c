//! Decoding, scaling, turning upright and re-encoding a photo, in bounded memory.
//!
//! A JPEG is decoded already scaled down by its DCT (1/2, 1/4 or 1/8: the decoder never
//! holds the full 12 MP frame when 1600 px are wanted), then resampled to the exact size
//! (a triangle filter), turned upright by its EXIF orientation, and encoded as a baseline JPEG. Every
//! size is checked against caps *before* the decoder allocates: a decompression bomb (a tiny
//! file declaring a huge image) is refused from its header.

use std::io::Cursor;

/// Largest JPEG accepted, in declared pixels: a 200 MP phone camera's full-resolution mode.
/// Decoded at 1/8 scale it is 3 MP.
pub const MAX_JPEG_PIXELS: u64 = 200_000_000;
/// Largest progressive JPEG: its decoder keeps every coefficient of the full frame
/// (2 bytes per sample), so the cap is what fits the memory budget.
pub const MAX_PROGRESSIVE_PIXELS: u64 = 16_000_000;
/// Largest PNG: decoded whole (no scaled decoding), 4 bytes per pixel.
pub const MAX_PNG_PIXELS: u64 = 16_000_000;
/// The most any decoder here may allocate for one image.
const MAX_DECODE_BYTES: usize = 96 * 1024 * 1024;

/// Why an image cannot be processed; says what is wrong, never what it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

fn refused(why: impl Into<String>) -> Refused {
    Refused(why.into())
}

/// Pixels, row by row, 1 (grey) or 3 (RGB) bytes each.
pub struct Pixels {
    pub data: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub channels: u8,
}

impl Pixels {
    /// What a decoder returned, refused if it holds fewer pixels than the size says.
    fn checked(data: Vec<u8>, width: u32, height: u32, channels: u8) -> Result<Pixels, Refused> {
        if data.len() < width as usize * height as usize * usize::from(channels) {
            return Err(refused("decoded to fewer pixels than it declares"));
        }
        Ok(Pixels {
            data,
            width,
            height,
            channels,
        })
    }
}

/// A JPEG's header, read without decoding its image data.
pub struct JpegHeader {
    pub width: u32,
    pub height: u32,
    /// The raw EXIF block (TIFF structure), if the file has one.
    pub exif: Option<Vec<u8>>,
}

fn decoder(data: &[u8]) -> Result<jpeg_decoder::Decoder<Cursor<&[u8]>>, Refused> {
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(data));
    d.set_max_decoding_buffer_size(MAX_DECODE_BYTES);
    d.read_info()
        .map_err(|_| refused("is not a readable JPEG (malformed or truncated header)"))?;
    let info = d
        .info()
        .ok_or_else(|| refused("is not a readable JPEG (no frame header)"))?;
    let pixels = u64::from(info.width) * u64::from(info.height);
    if pixels == 0 {
        return Err(refused("declares an empty image"));
    }
    let progressive = info.coding_process == jpeg_decoder::CodingProcess::DctProgressive;
    let cap = if progressive {
        MAX_PROGRESSIVE_PIXELS
    } else {
        MAX_JPEG_PIXELS
    };
    if pixels > cap {
        return Err(refused(format!(
            "declares {} x {} pixels, more than the {} MP a photo may have",
            info.width,
            info.height,
            cap / 1_000_000
        )));
    }
    if info.pixel_format == jpeg_decoder::PixelFormat::L16 {
        return Err(refused("is a 16-bit lossless JPEG, not a camera photo"));
    }
    Ok(d)
}

/// Reads the header: size and EXIF, and checks the declared size against the caps.
pub fn jpeg_header(data: &[u8]) -> Result<JpegHeader, Refused> {
    let d = decoder(data)?;
    let info = d.info().ok_or_else(|| refused("has no frame header"))?;
    Ok(JpegHeader {
        width: u32::from(info.width),
        height: u32::from(info.height),
        exif: d.exif_data().map(<[u8]>::to_vec),
    })
}

/// Decodes a JPEG scaled by its DCT to the smallest size at least `want_w` x `want_h`.
pub fn decode_jpeg(data: &[u8], want_w: u32, want_h: u32) -> Result<Pixels, Refused> {
    let mut d = decoder(data)?;
    let clamp = |v: u32| u16::try_from(v.max(1)).unwrap_or(u16::MAX);
    let (w, h) = d
        .scale(clamp(want_w), clamp(want_h))
        .map_err(|_| refused("cannot be scaled"))?;
    let raw = d
        .decode()
        .map_err(|_| refused("is not a readable JPEG (damaged or truncated image data)"))?;
    let info = d.info().ok_or_else(|| refused("has no frame header"))?;
    let (width, height) = (u32::from(w), u32::from(h));
    let (data, channels) = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => (raw, 1),
        jpeg_decoder::PixelFormat::RGB24 => (raw, 3),
        jpeg_decoder::PixelFormat::CMYK32 => (cmyk_to_rgb(&raw), 3),
        jpeg_decoder::PixelFormat::L16 => {
            return Err(refused("is a 16-bit lossless JPEG, not a camera photo"));
        }
    };
    Pixels::checked(data, width, height, channels)
}

/// Adobe CMYK as decoded (inverted): an approximation, good enough to see what a print-shop
/// JPEG shows; phones never write CMYK.
fn cmyk_to_rgb(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() / 4 * 3);
    for px in raw.chunks_exact(4) {
        let k = u16::from(px[3]);
        for c in &px[..3] {
            out.push((u16::from(*c) * k / 255) as u8);
        }
    }
    out
}

/// Decodes a PNG to grey or RGB (alpha composed over white).
pub fn decode_png(data: &[u8]) -> Result<Pixels, Refused> {
    let mut dec = png::Decoder::new_with_limits(
        Cursor::new(data),
        png::Limits {
            bytes: MAX_DECODE_BYTES,
        },
    );
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec
        .read_info()
        .map_err(|_| refused("is not a readable PNG (malformed header)"))?;
    let (width, height) = reader.info().size();
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 || pixels > MAX_PNG_PIXELS {
        return Err(refused(format!(
            "declares {width} x {height} pixels, more than the {} MP a PNG may have",
            MAX_PNG_PIXELS / 1_000_000
        )));
    }
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|_| refused("is not a readable PNG (damaged or truncated image data)"))?;
    buf.truncate(frame.buffer_size());
    let (color, _) = reader.output_color_type();
    let over_white =
        |v: u8, a: u8| ((u16::from(v) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
    let (data, channels) = match color {
        png::ColorType::Grayscale => (buf, 1),
        png::ColorType::Rgb => (buf, 3),
        png::ColorType::GrayscaleAlpha => (
            buf.chunks_exact(2)
                .map(|p| over_white(p[0], p[1]))
                .collect(),
            1,
        ),
        png::ColorType::Rgba => (
            buf.chunks_exact(4)
                .flat_map(|p| {
                    [
                        over_white(p[0], p[3]),
                        over_white(p[1], p[3]),
                        over_white(p[2], p[3]),
                    ]
                })
                .collect(),
            3,
        ),
        png::ColorType::Indexed => return Err(refused("has a palette the decoder did not expand")),
    };
    Pixels::checked(data, width, height, channels)
}

/// Resamples to exactly `width` x `height` (a downscale: the decoder already scaled by its
/// DCT, so what is left is a factor between 1/2 and 1). A separable triangle filter as wide
/// as the scale, so every source pixel counts and fine detail does not alias.
///
/// Hand-written rather than `fast_image_resize`: that crate added 2 MiB to the release
/// library (every pixel type and SIMD path is compiled in; measured with cargo-bloat), for
/// one 8-bit downscale that takes about 30 ms here.
pub fn resize(src: Pixels, width: u32, height: u32) -> Result<Pixels, Refused> {
    if (src.width, src.height) == (width, height) {
        return Ok(src);
    }
    if width == 0 || height == 0 {
        return Err(refused("cannot be resized to nothing"));
    }
    let channels = src.channels;
    let c = usize::from(channels);
    let (sw, sh) = (src.width as usize, src.height as usize);
    let (dw, dh) = (width as usize, height as usize);
    let cols = taps(sw, dw);
    let rows = taps(sh, dh);
    // Rows first (width shrinks), then columns; fixed-point weights (sum 1 << 14).
    let mut mid = vec![0u8; dw * sh * c];
    for (line, out) in src
        .data
        .chunks_exact(sw * c)
        .zip(mid.chunks_exact_mut(dw * c))
    {
        if c == 1 {
            shrink_row::<1>(line, out, &cols);
        } else {
            shrink_row::<3>(line, out, &cols);
        }
    }
    drop(src);
    let stride = dw * c;
    let mut data = vec![0u8; dw * dh * c];
    let mut acc = vec![0i32; stride];
    for (t, out) in rows.iter().zip(data.chunks_exact_mut(stride)) {
        acc.iter_mut().for_each(|a| *a = 0);
        let from = mid.get(t.start * stride..).unwrap_or_default();
        for (w, line) in t.weights.iter().zip(from.chunks_exact(stride)) {
            for (a, v) in acc.iter_mut().zip(line) {
                *a += w * i32::from(*v);
            }
        }
        for (o, a) in out.iter_mut().zip(&acc) {
            *o = fixed_to_u8(*a);
        }
    }
    Ok(Pixels {
        data,
        width,
        height,
        channels,
    })
}

const ONE: i32 = 1 << 14;

/// One row of `N`-byte pixels resampled to the width of `cols` (monomorphised per pixel size
/// so the inner loops unroll).
fn shrink_row<const N: usize>(line: &[u8], out: &mut [u8], cols: &[Taps]) {
    for (t, px) in cols.iter().zip(out.chunks_exact_mut(N)) {
        let from = line
            .get(t.start * N..(t.start + t.weights.len()) * N)
            .unwrap_or_default();
        let mut acc = [0i32; N];
        for (w, sp) in t.weights.iter().zip(from.chunks_exact(N)) {
            for j in 0..N {
                acc[j] += w * i32::from(sp[j]);
            }
        }
        for j in 0..N {
            px[j] = fixed_to_u8(acc[j]);
        }
    }
}

fn fixed_to_u8(v: i32) -> u8 {
    ((v + ONE / 2) >> 14).clamp(0, 255) as u8
}

/// The source pixels one output pixel reads along one axis, and their weights (fixed point,
/// summing to [`ONE`]).
struct Taps {
    start: usize,
    weights: Vec<i32>,
}

fn taps(src: usize, dst: usize) -> Vec<Taps> {
    let scale = src as f32 / dst as f32;
    let support = scale.max(1.0);
    (0..dst)
        .map(|o| {
            let center = (o as f32 + 0.5) * scale;
            let lo = (center - support).floor().max(0.0) as usize;
            let hi = ((center + support).ceil() as usize).min(src);
            let weights: Vec<f32> = (lo..hi)
                .map(|i| (1.0 - ((i as f32 + 0.5 - center).abs() / support)).max(0.0))
                .collect();
            let sum: f32 = weights.iter().sum();
            if sum > 0.0 {
                let mut fixed: Vec<i32> = weights
                    .iter()
                    .map(|w| (w / sum * ONE as f32).round() as i32)
                    .collect();
                // Rounding may leave the sum off by a unit or two: the largest weight takes it.
                let off = ONE - fixed.iter().sum::<i32>();
                if let Some(m) = fixed.iter_mut().max() {
                    *m += off;
                }
                Taps {
                    start: lo,
                    weights: fixed,
                }
            } else {
                Taps {
                    start: (center as usize).min(src.saturating_sub(1)),
                    weights: vec![ONE],
                }
            }
        })
        .collect()
}

/// Turns the image upright as its EXIF orientation (1-8) says it is to be shown.
pub fn orient(src: Pixels, orientation: u8) -> Pixels {
    if !(2..=8).contains(&orientation) {
        return src;
    }
    let (w, h, c) = (
        src.width as usize,
        src.height as usize,
        usize::from(src.channels),
    );
    let swap = orientation >= 5;
    let (ow, oh) = if swap { (h, w) } else { (w, h) };
    let mut out = vec![0u8; ow * oh * c];
    for y in 0..oh {
        for x in 0..ow {
            let (sx, sy) = match orientation {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                _ => (w - 1 - y, x),
            };
            let s = (sy * w + sx) * c;
            let d = (y * ow + x) * c;
            if let (Some(to), Some(from)) = (out.get_mut(d..d + c), src.data.get(s..s + c)) {
                to.copy_from_slice(from);
            }
        }
    }
    Pixels {
        data: out,
        width: ow as u32,
        height: oh as u32,
        channels: src.channels,
    }
}

/// Encodes a baseline JPEG (JFIF header only: no metadata).
pub fn encode_jpeg(p: &Pixels, quality: u8) -> Result<Vec<u8>, Refused> {
    let (w, h) = (
        u16::try_from(p.width).map_err(|_| refused("is too wide to encode"))?,
        u16::try_from(p.height).map_err(|_| refused("is too tall to encode"))?,
    );
    let color = if p.channels == 1 {
        jpeg_encoder::ColorType::Luma
    } else {
        jpeg_encoder::ColorType::Rgb
    };
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100))
        .encode(&p.data, w, h, color)
        .map_err(|_| refused("cannot be encoded"))?;
    Ok(out)
}

/// The size that fits `max_edge` on the long side, keeping the aspect ratio.
pub fn fit(width: u32, height: u32, max_edge: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= max_edge {
        return (width, height);
    }
    let scale = f64::from(max_edge) / f64::from(long);
    let side = |v: u32| ((f64::from(v) * scale).round() as u32).clamp(1, max_edge);
    (side(width), side(height))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(w: u32, h: u32) -> Pixels {
        Pixels {
            data: (0..w * h).map(|i| i as u8).collect(),
            width: w,
            height: h,
            channels: 1,
        }
    }

    #[test]
    fn each_orientation_puts_the_stored_top_left_pixel_where_it_is_shown() {
        // 3 x 2 stored: 0 1 2 / 3 4 5.
        let shown = |o| {
            let p = orient(numbered(3, 2), o);
            (p.width, p.height, p.data)
        };
        assert_eq!(shown(1), (3, 2, vec![0, 1, 2, 3, 4, 5]));
        assert_eq!(shown(2), (3, 2, vec![2, 1, 0, 5, 4, 3]));
        assert_eq!(shown(3), (3, 2, vec![5, 4, 3, 2, 1, 0]));
        assert_eq!(shown(4), (3, 2, vec![3, 4, 5, 0, 1, 2]));
        assert_eq!(shown(5), (2, 3, vec![0, 3, 1, 4, 2, 5]));
        assert_eq!(shown(6), (2, 3, vec![3, 0, 4, 1, 5, 2]));
        assert_eq!(shown(7), (2, 3, vec![5, 2, 4, 1, 3, 0]));
        assert_eq!(shown(8), (2, 3, vec![2, 5, 1, 4, 0, 3]));
    }

    #[test]
    fn resizing_keeps_flat_colour_and_averages_stripes() {
        let flat = Pixels {
            data: vec![200; 2000 * 1500],
            width: 2000,
            height: 1500,
            channels: 1,
        };
        let out = resize(flat, 1600, 1200).unwrap();
        assert_eq!(
            (out.width, out.height, out.data.len()),
            (1600, 1200, 1600 * 1200)
        );
        assert!(out.data.iter().all(|&v| v == 200));
        // One-pixel black and white columns average to grey instead of aliasing.
        let stripes = Pixels {
            data: (0..2000 * 10)
                .map(|i| if i % 2 == 0 { 0 } else { 255 })
                .collect(),
            width: 2000,
            height: 10,
            channels: 1,
        };
        let out = resize(stripes, 1000, 10).unwrap();
        // (The filter is clipped at the image's edges: the outer columns are left out.)
        let inner = out.data.chunks(1000).flat_map(|row| &row[1..999]);
        assert!(
            inner.copied().all(|v| (120..=135).contains(&v)),
            "{:?}",
            &out.data[..10]
        );
    }

    #[test]
    fn fit_keeps_the_aspect_and_never_grows() {
        assert_eq!(fit(4000, 3000, 1600), (1600, 1200));
        assert_eq!(fit(3000, 4000, 1600), (1200, 1600));
        assert_eq!(fit(1600, 10, 1600), (1600, 10));
        assert_eq!(fit(64_000, 1, 1600), (1600, 1));
        assert_eq!(fit(640, 480, 1600), (640, 480));
    }
}
