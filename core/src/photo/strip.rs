//! What leaves the phone: a JPEG without its metadata, rewritten losslessly segment by
//! segment (the compressed image data is copied as it is).
//!
//! Kept: the JFIF header (APP0, with any thumbnail removed), an ICC colour profile (APP2
//! `ICC_PROFILE`), the Adobe segment (APP14, needed to decode CMYK/YCCK colours) and every
//! segment the image itself needs (tables, frame, scans). Dropped: every other APPn (EXIF
//! with its GPS and maker notes and XMP in APP1, FlashPix in APP2, IPTC in APP13, ...), JFIF
//! extension thumbnails (JFXX), comments (COM), and anything after the end of the image.
//! Fill bytes (0xFF before a marker) stay with the marker they precede.

/// Why a JPEG's structure cannot be walked; says where, never what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const APP0: u8 = 0xE0;
const APP2: u8 = 0xE2;
const APP14: u8 = 0xEE;
const COM: u8 = 0xFE;

/// The JPEG `data` without its metadata segments.
pub fn strip_jpeg(data: &[u8]) -> Result<Vec<u8>, Malformed> {
    if data.get(..2) != Some(&[0xFF, SOI]) {
        return Err(Malformed(
            "does not start with a JPEG start-of-image marker",
        ));
    }
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(&[0xFF, SOI]);
    let mut i = 2;
    loop {
        if data.get(i) != Some(&0xFF) {
            return Err(Malformed("a segment does not start with a marker"));
        }
        // Any number of 0xFF fill bytes may precede a marker; they go with it.
        let from = i;
        while data.get(i) == Some(&0xFF) {
            i += 1;
        }
        let marker = *data
            .get(i)
            .ok_or(Malformed("the file ends inside a marker"))?;
        i += 1;
        let head = data.get(from..i).unwrap_or_default();
        match marker {
            EOI => {
                out.extend_from_slice(head);
                return Ok(out);
            }
            // Markers without a length: restart markers and TEM.
            0xD0..=0xD7 | 0x01 => out.extend_from_slice(head),
            0x00 | SOI => return Err(Malformed("an unexpected marker")),
            _ => {
                let len = data
                    .get(i..i + 2)
                    .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                    .ok_or(Malformed("the file ends inside a segment"))?;
                let segment = data
                    .get(i..i + len)
                    .filter(|_| len >= 2)
                    .ok_or(Malformed("the file ends inside a segment"))?;
                if let Some(kept) = keep(marker, segment) {
                    out.extend_from_slice(head);
                    out.extend_from_slice(&kept);
                }
                i += len;
                if marker == SOS {
                    let end = scan_end(data, i)?;
                    out.extend_from_slice(data.get(i..end).unwrap_or_default());
                    i = end;
                }
            }
        }
    }
}

/// The segment (length included) as it is to be written, or `None` to drop it.
fn keep(marker: u8, segment: &[u8]) -> Option<Vec<u8>> {
    let payload = segment.get(2..).unwrap_or_default();
    match marker {
        APP0 if payload.starts_with(b"JFIF\0") && payload.len() >= 14 => {
            // Identifier, version, units, densities; thumbnail size 0 and no thumbnail.
            let mut s = vec![0, 16];
            s.extend_from_slice(payload.get(..12).unwrap_or_default());
            s.extend_from_slice(&[0, 0]);
            Some(s)
        }
        APP2 if payload.starts_with(b"ICC_PROFILE\0") => Some(segment.to_vec()),
        APP14 if payload.starts_with(b"Adobe") => Some(segment.to_vec()),
        0xE0..=0xEF | COM => None,
        _ => Some(segment.to_vec()),
    }
}

/// Where the entropy-coded data starting at `from` ends: at the first marker that is not a
/// restart marker (stuffed 0xFF00 bytes are data).
fn scan_end(data: &[u8], from: usize) -> Result<usize, Malformed> {
    let mut j = from;
    loop {
        let ff = data
            .get(j..)
            .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
            .ok_or(Malformed("the file ends inside the image data"))?;
        j += ff;
        match data.get(j + 1) {
            None => return Err(Malformed("the file ends inside the image data")),
            Some(0x00 | 0xD0..=0xD7) => j += 2,
            Some(_) => return Ok(j),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0xFF, marker];
        v.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn metadata_goes_and_image_segments_stay_byte_for_byte() {
        let mut jfif = b"JFIF\0\x01\x02\x00\x00\x48\x00\x48".to_vec();
        jfif.extend_from_slice(&[2, 1, 1, 2, 3, 4, 5, 6]); // a 2x1 RGB thumbnail
        let mut f = vec![0xFF, SOI];
        f.extend(seg(APP0, &jfif));
        f.extend(seg(0xE1, b"Exif\0\0secret position"));
        f.extend(seg(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x/>"));
        f.extend(seg(0xED, b"Photoshop 3.0\0iptc"));
        f.extend(seg(APP2, b"ICC_PROFILE\0\x01\x01icc"));
        f.extend(seg(COM, b"a comment"));
        f.extend(seg(0xDB, &[0; 65]));
        f.extend(seg(0xC0, &[8, 0, 1, 0, 1, 1, 1, 0x11, 0]));
        f.extend(seg(SOS, &[1, 1, 0, 0, 63, 0]));
        f.extend([0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        f.extend([0xFF, 0xFF, 0xFF, EOI]);
        f.extend(b"trailing bytes after the image");
        let out = strip_jpeg(&f).unwrap();
        let text = String::from_utf8_lossy(&out);
        for gone in ["Exif", "adobe", "Photoshop", "comment", "trailing"] {
            assert!(!text.contains(gone), "{gone} left in {out:?}");
        }
        assert!(text.contains("ICC_PROFILE"));
        assert_eq!(&out[2..4], &[0xFF, APP0]);
        assert_eq!(
            u16::from_be_bytes([out[4], out[5]]),
            16,
            "thumbnail dropped"
        );
        let body_at = |v: &[u8]| v.windows(2).position(|w| w == [0xFF, 0xDB]).unwrap();
        assert_eq!(out[body_at(&out)..], f[body_at(&f)..f.len() - 30]);
    }

    #[test]
    fn broken_structures_are_refused() {
        let mut ok = vec![0xFF, SOI];
        ok.extend(seg(0xDB, &[0; 65]));
        ok.extend(seg(SOS, &[1, 1, 0, 0, 63, 0]));
        ok.extend([1, 2, 3, 0xFF, EOI]);
        assert!(strip_jpeg(&ok).is_ok());
        for cut in 1..ok.len() - 1 {
            assert!(strip_jpeg(&ok[..cut]).is_err(), "cut at {cut}");
        }
        assert!(strip_jpeg(b"\xFF\xD8\xFF\xE0\x00\x10JFIF garbage").is_err());
        assert!(strip_jpeg(b"not a jpeg").is_err());
        assert!(strip_jpeg(&[0xFF, SOI, 0xFF, 0xE1, 0x00, 0x01]).is_err());
    }
}
