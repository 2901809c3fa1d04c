//! The photo pipeline: what the core does to a photo between the app's file and the photo
//! store (docs/architecture.md, "Photo pipeline").
//!
//! - A JPEG larger than the policy's `photo_max_edge_px`, or stored sideways (EXIF
//!   orientation), is decoded scaled, resampled, turned upright and re-encoded at the policy's
//!   `photo_jpeg_quality`; one already small and upright keeps its image data byte for byte.
//! - Either way, what leaves the phone carries no EXIF, XMP, maker notes, IPTC or comments
//!   ([`strip`]); the EXIF capture time and GPS position are read first ([`exif`]) and kept in
//!   the photo record as evidence, with the SHA-256 of the original file (provenance).
//! - A PNG is always re-encoded as JPEG (which drops its text and EXIF chunks).
//! - A HEIC file is kept as it is, metadata included: there is no pure-Rust HEIC decoder
//!   worth taking. The platform helpers convert HEIC to JPEG before handing it over.
//!
//! Everything happens in memory: no plaintext copy of the photo is written before it is
//! sealed into the store.

pub mod exif;
pub mod strip;
pub mod transcode;

use sha2::{Digest, Sha256};

use crate::domain::MediaType;
use transcode::Refused;

/// A photo ready to be stored: the bytes to keep and send, and what was learnt on the way.
#[derive(Debug)]
pub struct Prepared {
    pub bytes: Vec<u8>,
    pub media_type: MediaType,
    pub exif: exif::ExifFacts,
    /// SHA-256 (hex) and size of the original, when `bytes` differ from it.
    pub original: Option<(String, u64)>,
}

/// Runs the pipeline on the original file's bytes. `Err` says why the file is not a photo
/// the core can take (never what it shows).
pub fn prepare(original: Vec<u8>, max_edge: u32, quality: u8) -> Result<Prepared, Refused> {
    let media_type = crate::store::photos::sniff(original.get(..16).unwrap_or(&original))
        .ok_or_else(|| Refused("is not a JPEG, PNG or HEIC image".into()))?;
    let (bytes, media_type, facts) = match media_type {
        MediaType::Heic => {
            return Ok(Prepared {
                bytes: original,
                media_type,
                exif: exif::ExifFacts::default(),
                original: None,
            });
        }
        MediaType::Jpeg => {
            let header = transcode::jpeg_header(&original)?;
            let facts = header.exif.as_deref().map(exif::read).unwrap_or_default();
            let (w, h) = transcode::fit(header.width, header.height, max_edge);
            let bytes = if (w, h) == (header.width, header.height) && facts.orientation == 1 {
                // Small enough and upright: only the metadata goes. Decoding at 1/8 scale
                // proves the image data is whole, at a fraction of a full decode's cost.
                transcode::decode_jpeg(&original, 1, 1)?;
                strip::strip_jpeg(&original)
                    .map_err(|m| Refused(format!("is not a readable JPEG ({})", m.0)))?
            } else {
                let pixels = transcode::decode_jpeg(&original, w, h)?;
                let pixels = transcode::resize(pixels, w, h)?;
                transcode::encode_jpeg(&transcode::orient(pixels, facts.orientation), quality)?
            };
            (bytes, MediaType::Jpeg, facts)
        }
        MediaType::Png => {
            let pixels = transcode::decode_png(&original)?;
            let (w, h) = transcode::fit(pixels.width, pixels.height, max_edge);
            let pixels = transcode::resize(pixels, w, h)?;
            let bytes = transcode::encode_jpeg(&pixels, quality)?;
            (bytes, MediaType::Jpeg, exif::ExifFacts::default())
        }
    };
    let original = (bytes != original).then(|| {
        (
            hex::encode(Sha256::digest(&original)),
            original.len() as u64,
        )
    });
    Ok(Prepared {
        bytes,
        media_type,
        exif: facts,
        original,
    })
}
