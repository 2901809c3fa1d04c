//! Sealed photo files: a photo encrypted at rest in fixed-size authenticated chunks, written
//! and read as a stream (one chunk buffer, whatever the photo's size).
//!
//! # Format (version 1)
//!
//! ```text
//! header (44 bytes)
//!   0..6    magic "GWSEAL"
//!   6       version = 1
//!   7       algorithm = 1 (ChaCha20-Poly1305)
//!   8..12   chunk size C, plaintext bytes per chunk, u32 big-endian (1 KiB ..= 1 MiB)
//!   12..20  key id: which photo key sealed the file (see `PhotoKey::id`)
//!   20..36  salt: random per file; the file's own AEAD key is HKDF-SHA256(salt, photo key)
//!   36..44  nonce prefix: random per file
//! chunks
//!   chunk i = AEAD(plaintext bytes [i*C, (i+1)*C)) || 16-byte tag
//!   nonce   = nonce prefix (8 bytes) || i (u32 big-endian)
//!   AAD     = header (44 bytes) || i (u32 big-endian) || last (1 byte: 1 on the final chunk)
//!             || SHA-256 of the whole plaintext (32 bytes)
//! ```
//!
//! Every chunk but the last holds exactly C bytes; the last holds fewer (0..C), so a photo
//! whose size is a multiple of C ends with an empty chunk that is just a tag. A reader
//! therefore knows the last chunk by its length, and the plaintext size from the file size.
//! What each part of the AAD catches: the chunk index, reordered or dropped chunks; the last
//! flag, a file cut at a chunk boundary (its final full chunk was sealed as "not last"); the
//! photo's SHA-256 and the per-file key, a chunk copied from another file; the header, an
//! edited header. Any altered byte fails its chunk's tag.
//!
//! The key id lets a store hold files sealed under two keys while a rekey is under way
//! (each file is rewritten whole and renamed into place), and lets a reader tell "sealed
//! with another key" from "altered".

use std::io::{self, Read, Seek, SeekFrom, Write};

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Error, Result};

/// First bytes of every sealed photo file.
pub const MAGIC: &[u8; 6] = b"GWSEAL";
const VERSION: u8 = 1;
const ALG_CHACHA20_POLY1305: u8 = 1;
/// Size of the header in front of the chunks.
pub const HEADER_LEN: usize = 44;
/// Authentication tag after each chunk.
pub const TAG_LEN: usize = 16;
/// Plaintext bytes per chunk written by this build.
pub const DEFAULT_CHUNK: u32 = 64 * 1024;
/// Chunk sizes a reader accepts: bounds the buffer a hostile header can make it allocate.
const MIN_CHUNK: u32 = 1024;
const MAX_CHUNK: u32 = 1024 * 1024;
const KEY_ID_LEN: usize = 8;
const SALT_LEN: usize = 16;
const PREFIX_LEN: usize = NONCE_LEN - 4;

const INFO_PHOTO_KEY: &[u8] = b"gridworker photo seal v1";
const INFO_KEY_ID: &[u8] = b"gridworker photo key id v1";
const INFO_FILE_KEY: &[u8] = b"gridworker photo file key v1";

/// How a sealed photo file fails to open. Never carries the photo's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealDamage {
    /// Not a sealed photo this build can read (magic, version, algorithm or chunk size).
    UnknownFormat,
    /// Sealed with a key this store does not hold (or the store holds none).
    WrongKey,
    /// The file ends before its last chunk.
    Truncated,
    /// A chunk fails authentication: altered bytes, chunks reordered, dropped or copied
    /// from another file.
    Altered,
}

impl std::fmt::Display for SealDamage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SealDamage::UnknownFormat => "not a sealed photo this build can read",
            SealDamage::WrongKey => "sealed with another key",
            SealDamage::Truncated => "truncated",
            SealDamage::Altered => "a chunk failed authentication",
        })
    }
}

impl std::error::Error for SealDamage {}

fn broken(damage: SealDamage) -> Error {
    Error::PhotoSealBroken { damage }
}

/// Turns an error met inside `Read` back into the typed one it carried.
pub fn from_io(e: io::Error) -> Error {
    match e.get_ref().and_then(|i| i.downcast_ref::<SealDamage>()) {
        Some(d) => broken(*d),
        None => Error::Io(e),
    }
}

/// Carries a typed error through `io::Read`.
pub fn to_io(e: Error) -> io::Error {
    match e {
        Error::PhotoSealBroken { damage } => io::Error::new(io::ErrorKind::InvalidData, damage),
        Error::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

fn hkdf_fill(salt: &[u8], secret: &[u8], info: &[u8], out: &mut [u8]) -> Result<()> {
    hkdf::Salt::new(hkdf::HKDF_SHA256, salt)
        .extract(secret)
        .expand(&[info], hkdf::HKDF_SHA256)
        .and_then(|okm| {
            let mut full = [0u8; 32];
            okm.fill(&mut full)?;
            let part = full.get(..out.len()).ok_or(ring::error::Unspecified)?;
            out.copy_from_slice(part);
            Ok(())
        })
        .map_err(|_| Error::Io(io::Error::other("photo key derivation failed")))
}

/// The key photos are sealed with, derived from the app's 32-byte key so the database key
/// and the photo key differ. Its bytes never leave memory and never appear in `Debug`.
#[derive(Clone)]
pub struct PhotoKey {
    bytes: [u8; 32],
    id: [u8; KEY_ID_LEN],
}

impl std::fmt::Debug for PhotoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PhotoKey(id {})", hex::encode(self.id))
    }
}

impl PhotoKey {
    /// HKDF-SHA256 of the app key (no salt, info "gridworker photo seal v1").
    pub fn derive(app_key: &[u8; 32]) -> Result<PhotoKey> {
        let mut bytes = [0u8; 32];
        hkdf_fill(&[], app_key, INFO_PHOTO_KEY, &mut bytes)?;
        let mut id = [0u8; KEY_ID_LEN];
        hkdf_fill(&[], &bytes, INFO_KEY_ID, &mut id)?;
        Ok(PhotoKey { bytes, id })
    }

    /// The key's secret as hex, to keep it inside the encrypted database while photos are
    /// re-sealed away from it (see [`crate::store::crypt`]); nowhere else.
    pub(crate) fn secret_hex(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(hex::encode(self.bytes))
    }

    /// The key [`PhotoKey::secret_hex`] wrote; `None` for anything else.
    pub(crate) fn from_secret_hex(text: &str) -> Option<PhotoKey> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        let mut id = [0u8; KEY_ID_LEN];
        hkdf_fill(&[], &bytes, INFO_KEY_ID, &mut id).ok()?;
        Some(PhotoKey { bytes, id })
    }

    /// Names the key in file headers without revealing it.
    pub fn id(&self) -> [u8; KEY_ID_LEN] {
        self.id
    }

    fn file_key(&self, salt: &[u8]) -> Result<LessSafeKey> {
        let mut k = [0u8; 32];
        hkdf_fill(salt, &self.bytes, INFO_FILE_KEY, &mut k)?;
        let key = UnboundKey::new(&CHACHA20_POLY1305, &k)
            .map_err(|_| Error::Io(io::Error::other("photo key setup failed")))?;
        Ok(LessSafeKey::new(key))
    }
}

/// True when `head` (a file's first bytes) starts like a sealed photo.
pub fn is_sealed(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

fn nonce(prefix: &[u8; PREFIX_LEN], index: u32) -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    n[..PREFIX_LEN].copy_from_slice(prefix);
    n[PREFIX_LEN..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

const AAD_LEN: usize = HEADER_LEN + 4 + 1 + 32;

fn aad(header: &[u8; HEADER_LEN], index: u32, last: bool, sha256: &[u8; 32]) -> [u8; AAD_LEN] {
    let mut a = [0u8; AAD_LEN];
    a[..HEADER_LEN].copy_from_slice(header);
    a[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&index.to_be_bytes());
    a[HEADER_LEN + 4] = u8::from(last);
    a[HEADER_LEN + 5..].copy_from_slice(sha256);
    a
}

/// The parts of a parsed header.
struct Header {
    raw: [u8; HEADER_LEN],
    chunk: u32,
    key_id: [u8; KEY_ID_LEN],
    salt: [u8; SALT_LEN],
    prefix: [u8; PREFIX_LEN],
}

impl Header {
    fn parse(raw: [u8; HEADER_LEN]) -> Result<Header> {
        if !raw.starts_with(MAGIC) || raw[6] != VERSION || raw[7] != ALG_CHACHA20_POLY1305 {
            return Err(broken(SealDamage::UnknownFormat));
        }
        let chunk = u32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]);
        if !(MIN_CHUNK..=MAX_CHUNK).contains(&chunk) {
            return Err(broken(SealDamage::UnknownFormat));
        }
        let mut key_id = [0u8; KEY_ID_LEN];
        key_id.copy_from_slice(&raw[12..20]);
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&raw[20..36]);
        let mut prefix = [0u8; PREFIX_LEN];
        prefix.copy_from_slice(&raw[36..44]);
        Ok(Header {
            raw,
            chunk,
            key_id,
            salt,
            prefix,
        })
    }
}

/// Which key sealed the file that starts with `head`, if it is a sealed photo.
pub fn key_id_of(head: &[u8]) -> Option<[u8; KEY_ID_LEN]> {
    let raw: [u8; HEADER_LEN] = head.get(..HEADER_LEN)?.try_into().ok()?;
    Header::parse(raw).ok().map(|h| h.key_id)
}

/// Writes a sealed photo: feed it the plaintext with [`Sealer::write`], then [`Sealer::finish`].
/// The SHA-256 of the whole plaintext must be known up front (it is bound into every chunk).
pub struct Sealer<W: Write> {
    out: W,
    key: LessSafeKey,
    header: [u8; HEADER_LEN],
    prefix: [u8; PREFIX_LEN],
    sha256: [u8; 32],
    chunk: usize,
    buf: Vec<u8>,
    index: u32,
}

impl<W: Write> Sealer<W> {
    pub fn new(out: W, key: &PhotoKey, sha256: &[u8; 32]) -> Result<Sealer<W>> {
        Self::with_chunk_size(out, key, sha256, DEFAULT_CHUNK)
    }

    /// As [`Sealer::new`] with another chunk size (tests, benchmarks).
    pub fn with_chunk_size(
        mut out: W,
        key: &PhotoKey,
        sha256: &[u8; 32],
        chunk: u32,
    ) -> Result<Sealer<W>> {
        if !(MIN_CHUNK..=MAX_CHUNK).contains(&chunk) {
            return Err(Error::invalid("chunk_size", "outside 1 KiB ..= 1 MiB"));
        }
        let mut random = [0u8; SALT_LEN + PREFIX_LEN];
        SystemRandom::new()
            .fill(&mut random)
            .map_err(|_| Error::Io(io::Error::other("no random source")))?;
        let mut header = [0u8; HEADER_LEN];
        header[..6].copy_from_slice(MAGIC);
        header[6] = VERSION;
        header[7] = ALG_CHACHA20_POLY1305;
        header[8..12].copy_from_slice(&chunk.to_be_bytes());
        header[12..20].copy_from_slice(&key.id);
        header[20..44].copy_from_slice(&random);
        let mut prefix = [0u8; PREFIX_LEN];
        prefix.copy_from_slice(&random[SALT_LEN..]);
        let file_key = key.file_key(&random[..SALT_LEN])?;
        out.write_all(&header)?;
        let chunk = chunk as usize;
        Ok(Sealer {
            out,
            key: file_key,
            header,
            prefix,
            sha256: *sha256,
            chunk,
            buf: Vec::with_capacity(chunk),
            index: 0,
        })
    }

    /// Adds plaintext. A chunk is sealed as soon as it is full: a full chunk is never the last.
    pub fn write(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let room = self.chunk.saturating_sub(self.buf.len());
            let (now, rest) = data.split_at(room.min(data.len()));
            self.buf.extend_from_slice(now);
            data = rest;
            if self.buf.len() >= self.chunk {
                self.seal_chunk(false)?;
            }
        }
        Ok(())
    }

    fn seal_chunk(&mut self, last: bool) -> Result<()> {
        let aad = aad(&self.header, self.index, last, &self.sha256);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                nonce(&self.prefix, self.index),
                Aad::from(&aad[..]),
                &mut self.buf,
            )
            .map_err(|_| Error::Io(io::Error::other("sealing failed")))?;
        self.out.write_all(&self.buf)?;
        self.out.write_all(tag.as_ref())?;
        self.buf.clear();
        self.index = self
            .index
            .checked_add(1)
            .ok_or_else(|| Error::invalid("photo", "too large to seal"))?;
        Ok(())
    }

    /// Seals the last (short, possibly empty) chunk and hands back the writer.
    pub fn finish(mut self) -> Result<W> {
        self.seal_chunk(true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads as much as `buf` holds unless the input ends first; returns how much it read.
pub fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let Some(rest) = buf.get_mut(got..) else {
            break;
        };
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Reads a sealed photo back as plaintext, chunk by chunk, each authenticated before any of
/// its bytes are handed out. Implements [`Read`]; errors inside `read` carry a
/// [`SealDamage`] (see [`from_io`]).
pub struct Unsealer<R: Read + Seek> {
    input: R,
    key: LessSafeKey,
    header: Header,
    sha256: [u8; 32],
    plain_len: u64,
    buf: Vec<u8>,
    /// Plaintext bytes of the current chunk in `buf`, and how many were handed out.
    filled: usize,
    pos: usize,
    next_index: u32,
    done: bool,
}

impl<R: Read + Seek> Unsealer<R> {
    /// Opens a sealed file with whichever of `keys` sealed it; `sha256` is the photo's id.
    pub fn open(mut input: R, keys: &[PhotoKey], sha256: &[u8; 32]) -> Result<Unsealer<R>> {
        let file_len = input.seek(SeekFrom::End(0))?;
        input.seek(SeekFrom::Start(0))?;
        let mut raw = [0u8; HEADER_LEN];
        let got = read_full(&mut input, &mut raw)?;
        if got < HEADER_LEN {
            return Err(broken(if is_sealed(&raw[..got]) {
                SealDamage::Truncated
            } else {
                SealDamage::UnknownFormat
            }));
        }
        let header = Header::parse(raw)?;
        let key = keys
            .iter()
            .find(|k| k.id == header.key_id)
            .ok_or_else(|| broken(SealDamage::WrongKey))?;
        let key = key.file_key(&header.salt)?;
        let chunk = u64::from(header.chunk);
        let per = chunk + TAG_LEN as u64;
        let body = file_len
            .checked_sub(HEADER_LEN as u64)
            .ok_or_else(|| broken(SealDamage::Truncated))?;
        let (full, rem) = (body / per, body % per);
        // The last chunk is shorter than a full one but holds at least its tag.
        if rem < TAG_LEN as u64 {
            return Err(broken(SealDamage::Truncated));
        }
        let plain_len = full
            .checked_mul(chunk)
            .and_then(|n| n.checked_add(rem - TAG_LEN as u64))
            .ok_or_else(|| broken(SealDamage::UnknownFormat))?;
        let cap = header.chunk as usize + TAG_LEN;
        Ok(Unsealer {
            input,
            key,
            header,
            sha256: *sha256,
            plain_len,
            buf: vec![0u8; cap],
            filled: 0,
            pos: 0,
            next_index: 0,
            done: false,
        })
    }

    /// Size of the plaintext, from the file's size (checked chunk by chunk as it is read).
    pub fn plain_len(&self) -> u64 {
        self.plain_len
    }

    /// Positions the reader at plaintext byte `offset`: jumps to the chunk holding it,
    /// authenticates that chunk and discards its head.
    pub fn seek_to(&mut self, offset: u64) -> Result<()> {
        if offset > self.plain_len {
            return Err(Error::invalid("offset", "beyond the end of the photo"));
        }
        let chunk = u64::from(self.header.chunk);
        let index = offset / chunk;
        let at = index
            .checked_mul(chunk + TAG_LEN as u64)
            .and_then(|n| n.checked_add(HEADER_LEN as u64))
            .ok_or_else(|| Error::invalid("offset", "beyond the end of the photo"))?;
        self.next_index =
            u32::try_from(index).map_err(|_| Error::invalid("offset", "beyond the end"))?;
        self.input.seek(SeekFrom::Start(at))?;
        self.done = false;
        self.filled = 0;
        self.pos = 0;
        self.read_chunk()?;
        let skip = (offset % chunk) as usize;
        if skip > self.filled {
            return Err(broken(SealDamage::Truncated));
        }
        self.pos = skip;
        Ok(())
    }

    fn read_chunk(&mut self) -> Result<()> {
        let got = read_full(&mut self.input, &mut self.buf)?;
        if got < TAG_LEN {
            // Nothing (or less than a tag) where a chunk was due: the last one is gone.
            return Err(broken(SealDamage::Truncated));
        }
        let last = got < self.buf.len();
        let aad = aad(&self.header.raw, self.next_index, last, &self.sha256);
        let sealed = self
            .buf
            .get_mut(..got)
            .ok_or_else(|| broken(SealDamage::Truncated))?;
        let plain = self
            .key
            .open_in_place(
                nonce(&self.header.prefix, self.next_index),
                Aad::from(&aad[..]),
                sealed,
            )
            .map_err(|_| broken(SealDamage::Altered))?;
        self.filled = plain.len();
        self.pos = 0;
        self.done = last;
        self.next_index = self
            .next_index
            .checked_add(1)
            .ok_or_else(|| broken(SealDamage::UnknownFormat))?;
        Ok(())
    }
}

impl<R: Read + Seek> Read for Unsealer<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.filled {
            if self.done {
                return Ok(0);
            }
            self.read_chunk().map_err(to_io)?;
        }
        let avail = self.buf.get(self.pos..self.filled).unwrap_or_default();
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// Seals everything `input` yields into `out` (tests and benchmarks).
#[cfg(any(test, feature = "test-hooks"))]
pub fn seal_stream<W: Write>(
    input: &mut impl Read,
    out: W,
    key: &PhotoKey,
    sha256: &[u8; 32],
) -> Result<W> {
    let mut sealer = Sealer::new(out, key, sha256)?;
    let mut buf = vec![0u8; DEFAULT_CHUNK as usize];
    loop {
        let n = read_full(input, &mut buf)?;
        if n == 0 {
            break;
        }
        sealer.write(buf.get(..n).unwrap_or_default())?;
    }
    sealer.finish()
}
