//! Issue 9, item 2 (and the photo parts of 5 and 6): photos sealed at rest in authenticated
//! chunks. The format's round trip and damage detection on real files; a sealed store's
//! staging, reading and sync against the real reference server on 127.0.0.1 (behind the
//! real fault proxy); the plain → sealed migration and a rekey interrupted mid-way.

mod support;
mod sync_support;

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use gridworker_core::test_hooks::outbox::QuarantineReason;
use gridworker_core::test_hooks::photos::seal::{self, PhotoKey, SealDamage, Unsealer};
use gridworker_core::test_hooks::photos::{self, PhotoReader};
use gridworker_core::worker::PhotoInput;
use gridworker_core::{DatabaseKey, Error};
use sha2::{Digest, Sha256};
use support::district;
use sync_support::{Device, Fault, RealServer, Tokens, assert_all_synced_once, fast_options};

const CHUNK: usize = seal::DEFAULT_CHUNK as usize;
const PER: usize = CHUNK + seal::TAG_LEN;
const H: usize = seal::HEADER_LEN;

fn key(n: u8) -> PhotoKey {
    PhotoKey::derive(&[n; 32]).unwrap()
}

/// Pseudo-random bytes (no period a plaintext scan could meet by chance in ciphertext).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// A real JPEG of noise of `size` bytes, written outside the data directory (the gallery).
fn photo(dir: &Path, size: usize, seed: u64) -> (PathBuf, Vec<u8>) {
    let bytes = gridworker_testkit::photos::jpeg(size, seed);
    let p = dir.join(format!("gallery-{seed}.jpg"));
    std::fs::write(&p, &bytes).unwrap();
    (p, bytes)
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn sealed(bytes: &[u8], k: &PhotoKey) -> Vec<u8> {
    seal::seal_stream(&mut Cursor::new(bytes), Vec::new(), k, &sha(bytes)).unwrap()
}

fn unseal(file: &[u8], keys: &[PhotoKey], sha: &[u8; 32]) -> Result<Vec<u8>, Error> {
    let mut u = Unsealer::open(Cursor::new(file), keys, sha)?;
    let mut out = Vec::new();
    u.read_to_end(&mut out).map_err(seal::from_io)?;
    Ok(out)
}

/// Files a report with photos from `gallery`; returns (report id, [(sha, plaintext)]).
fn report(
    dev: &Device,
    gallery: &Path,
    sizes: &[usize],
    seed: u64,
) -> (String, Vec<(String, Vec<u8>)>) {
    dev.clock.advance(60);
    let (_, points, _) = district();
    let mut inputs = Vec::new();
    let mut bytes = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let (p, b) = photo(gallery, *size, seed * 100 + i as u64);
        inputs.push(PhotoInput::new(p));
        bytes.push(b);
    }
    let r = dev
        .worker
        .file_report(
            "dumped_waste",
            "建筑垃圾",
            &inputs,
            &dev.fix_at(points[0].position),
            None,
        )
        .unwrap();
    let out = r
        .photos
        .iter()
        .zip(bytes)
        .map(|(p, b)| {
            assert_eq!(p.sha256, hex::encode(sha(&b)), "id is the plaintext's hash");
            assert_eq!(p.size, b.len() as u64, "size is the plaintext's");
            (p.sha256.clone(), b)
        })
        .collect();
    (r.id, out)
}

fn photo_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data_dir.join("photos"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn stored_file(data_dir: &Path, sha: &str) -> PathBuf {
    photo_files(data_dir)
        .into_iter()
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(sha))
        .expect("photo file held")
}

fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            all_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// No file under the data directory starts like a JPEG or PNG, and no 48-byte stretch of
/// any photo's plaintext appears in any file.
fn assert_no_plaintext_photos(data_dir: &Path, plaintexts: &[Vec<u8>]) {
    let mut files = Vec::new();
    all_files(data_dir, &mut files);
    assert!(!files.is_empty());
    let needles: Vec<&[u8]> = plaintexts
        .iter()
        .flat_map(|p| {
            // Past the JPEG header all photos share; a small photo is one needle.
            let n = 48.min(p.len() - 12);
            [&p[12..12 + n], &p[p.len() - n..]]
        })
        .collect();
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
            "JPEG magic at the start of {f:?}"
        );
        assert!(
            !bytes.starts_with(&[0x89, 0x50, 0x4E, 0x47]),
            "PNG magic at the start of {f:?}"
        );
        for n in &needles {
            assert!(
                !bytes.windows(n.len()).any(|w| w == *n),
                "plaintext photo bytes in {f:?}"
            );
        }
    }
}

#[test]
fn enc_photo_seal_round_trip_at_chunk_boundaries_and_seeks() {
    let k = key(1);
    for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 5_000_000] {
        let plain = noise(len, len as u64);
        let file = sealed(&plain, &k);
        assert!(file.starts_with(seal::MAGIC));
        // Header, one tag per chunk, and the last chunk is always short (maybe empty).
        assert_eq!(
            file.len(),
            H + len + (len / CHUNK + 1) * seal::TAG_LEN,
            "len {len}"
        );
        assert_eq!(
            unseal(&file, std::slice::from_ref(&k), &sha(&plain)).unwrap(),
            plain,
            "len {len}"
        );
        for off in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, len / 2, len]
            .into_iter()
            .filter(|o| *o <= len)
        {
            let mut u =
                Unsealer::open(Cursor::new(&file), std::slice::from_ref(&k), &sha(&plain)).unwrap();
            assert_eq!(u.plain_len(), len as u64);
            u.seek_to(off as u64).unwrap();
            let mut rest = Vec::new();
            u.read_to_end(&mut rest).unwrap();
            assert_eq!(rest, plain[off..], "len {len} offset {off}");
        }
    }
    // Two seals of the same photo differ (random salt and nonce prefix per file).
    let plain = noise(1000, 9);
    assert_ne!(sealed(&plain, &k), sealed(&plain, &k));
}

#[test]
fn enc_photo_damage_is_a_typed_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let plain = noise(3 * CHUNK + 500, 1);
    let other = noise(3 * CHUNK + 500, 2);
    let (good, from_other) = (sealed(&plain, &k), sealed(&other, &k));
    let id = hex::encode(sha(&plain));
    let chunk = |f: &[u8], i: usize| f[H + i * PER..H + (i + 1) * PER].to_vec();

    let mut cases: Vec<(&str, Vec<u8>, SealDamage)> = Vec::new();
    // Cut at a chunk boundary (the last chunk gone), mid-chunk, and inside the header.
    cases.push((
        "last chunk cut",
        good[..H + 3 * PER].to_vec(),
        SealDamage::Truncated,
    ));
    cases.push((
        "cut mid-chunk",
        good[..H + 2 * PER + 700].to_vec(),
        SealDamage::Altered,
    ));
    cases.push((
        "cut in the header",
        good[..20].to_vec(),
        SealDamage::Truncated,
    ));
    let mut flipped = good.clone();
    flipped[H + PER + 1234] ^= 0x01;
    cases.push(("one altered byte", flipped, SealDamage::Altered));
    let mut swapped = good.clone();
    swapped[H..H + PER].copy_from_slice(&chunk(&good, 1));
    swapped[H + PER..H + 2 * PER].copy_from_slice(&chunk(&good, 0));
    cases.push(("two chunks swapped", swapped, SealDamage::Altered));
    let mut foreign = good.clone();
    foreign[H + PER..H + 2 * PER].copy_from_slice(&chunk(&from_other, 1));
    cases.push(("a chunk from another file", foreign, SealDamage::Altered));
    let mut dropped = good[..H + PER].to_vec();
    dropped.extend_from_slice(&good[H + 2 * PER..]);
    cases.push(("a middle chunk dropped", dropped, SealDamage::Altered));
    let mut header = good.clone();
    header[40] ^= 0x80;
    cases.push(("header edited", header, SealDamage::Altered));
    cases.push(("wrong key", sealed(&plain, &key(2)), SealDamage::WrongKey));

    for (what, bytes, want) in cases {
        let path = dir.path().join(format!("{id}.jpg"));
        std::fs::write(&path, &bytes).unwrap();
        let got = photos::open_file(&path, &id, std::slice::from_ref(&k)).and_then(|mut r| {
            let mut out = Vec::new();
            r.read_to_end(&mut out).map_err(seal::from_io)?;
            Ok(out)
        });
        match got {
            Err(Error::PhotoSealBroken { damage }) => assert_eq!(damage, want, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
        // The message names the damage, never bytes; the file is left exactly as it was.
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{what}");
    }
    // The same photo's id under another name: bound into every chunk, so refused.
    let err = unseal(&good, std::slice::from_ref(&k), &sha(&other)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::PhotoSealBroken {
                damage: SealDamage::Altered
            }
        ),
        "{err:?}"
    );
    // A store without a key finds a sealed file sealed with another key.
    let err = unseal(&good, &[], &sha(&plain)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::PhotoSealBroken {
                damage: SealDamage::WrongKey
            }
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enc_photo_store_keeps_photos_sealed_and_reads_them_back() {
    let gallery = tempfile::tempdir().unwrap();
    let dev = Device::new_sealed("http://127.0.0.1:9", [7; 32]);
    let sizes = [64, CHUNK, CHUNK + 1, 300_000];
    let (_, shots) = report(&dev, gallery.path(), &sizes, 1);
    // The same photos again: each stored once.
    let (_, again) = report(&dev, gallery.path(), &sizes, 1);
    assert_eq!(again, shots);
    let files = photo_files(dev.dir.path());
    assert_eq!(files.len(), shots.len());
    for (sha, bytes) in &shots {
        let f = stored_file(dev.dir.path(), sha);
        let raw = std::fs::read(&f).unwrap();
        assert!(raw.starts_with(seal::MAGIC), "{f:?} not sealed");
        assert_eq!(
            dev.worker.photo_bytes(sha).unwrap().as_deref(),
            Some(&bytes[..])
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
                0o600
            );
            let d = std::fs::metadata(dev.dir.path().join("photos")).unwrap();
            assert_eq!(d.permissions().mode() & 0o777, 0o700);
        }
        match photos::open_file(&f, sha, dev.worker.photo_keys()).unwrap() {
            PhotoReader::Sealed(u) => assert_eq!(u.plain_len(), bytes.len() as u64),
            PhotoReader::Plain { .. } => panic!("plain reader on a sealed file"),
        }
    }
    // A sealed store hands out no paths (they would be ciphertext).
    assert!(matches!(
        dev.worker.photo_path(&shots[0].0),
        Err(Error::InvalidState { .. })
    ));
    // Nothing plain was left behind, temp folder included.
    let plain: Vec<Vec<u8>> = shots.iter().map(|s| s.1.clone()).collect();
    assert_no_plaintext_photos(dev.dir.path(), &plain);
    // Without the key no photo can be read.
    let err = photos::open_file(&stored_file(dev.dir.path(), &shots[0].0), &shots[0].0, &[]);
    assert!(matches!(
        err,
        Err(Error::PhotoSealBroken {
            damage: SealDamage::WrongKey
        })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enc_photo_sealed_reports_sync_and_the_server_holds_the_plaintext() {
    let server = RealServer::start(&["tok"]);
    let gallery = tempfile::tempdir().unwrap();
    let dev = Device::new_sealed(&server.url, [7; 32]);
    dev.check_ins(2);
    let (_, a) = report(&dev, gallery.path(), &[70_000, CHUNK], 1);
    let visit = dev.visit();
    let (_, b) = report(&dev, gallery.path(), &[1_200_000], 2);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let r = engine.sync().await.unwrap();
    assert!(r.quarantined.is_empty(), "{r:?}");
    assert!(!visit.is_empty());
    let shots: Vec<_> = a.into_iter().chain(b).collect();
    for (sha, bytes) in &shots {
        let held = server.photo(sha).await.expect("server holds the photo");
        assert_eq!(&held, bytes, "server holds the plaintext");
        assert_eq!(hex::encode(Sha256::digest(&held)), *sha);
    }
    assert_all_synced_once(&dev, &server).await;
    let plain: Vec<Vec<u8>> = shots.iter().map(|s| s.1.clone()).collect();
    assert_no_plaintext_photos(dev.dir.path(), &plain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enc_photo_cut_upload_resumes_from_an_offset_inside_a_chunk() {
    let server = RealServer::start(&["tok"]);
    let gallery = tempfile::tempdir().unwrap();
    let dev = Device::new_sealed(&server.url, [7; 32]);
    let size = 2_000_000u64;
    let (_, shots) = report(&dev, gallery.path(), &[size as usize], 3);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    // Handshake and status pass; the upload is cut a little after half the body. The
    // server then holds ~1,000,000 + 12,345 - (request head) bytes: inside chunk 15
    // (983,040 ..= 1,048,575), not on a chunk boundary.
    server.proxy.push_fault(Fault::Pass);
    server.proxy.push_fault(Fault::Pass);
    server
        .proxy
        .push_fault(Fault::CutRequestAfter(size / 2 + 12_345));
    server.proxy.reset_stats();
    let r = engine.sync().await.unwrap();
    assert!(r.quarantined.is_empty(), "{r:?}");
    assert_eq!(server.proxy.pending_faults(), 0);
    let sent = server.proxy.stats().bytes_up;
    // Half a body, then only what the server lacked: resumed, not restarted.
    assert!(sent > size, "sent {sent}");
    assert!(sent < size + size / 10, "sent {sent}");
    assert_eq!(
        server.photo(&shots[0].0).await.as_deref(),
        Some(&shots[0].1[..])
    );
    assert_all_synced_once(&dev, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enc_photo_altered_or_truncated_sealed_file_is_quarantined_and_the_rest_syncs() {
    let server = RealServer::start(&["tok"]);
    let gallery = tempfile::tempdir().unwrap();
    let dev = Device::new_sealed(&server.url, [7; 32]);
    let checkins = dev.check_ins(1);
    let (altered_id, a) = report(&dev, gallery.path(), &[100_000], 1);
    let (cut_id, b) = report(&dev, gallery.path(), &[100_000], 2);
    let (good_id, c) = report(&dev, gallery.path(), &[100_000], 3);
    // One byte of the first chunk flipped; the second file loses its last chunk.
    let fa = stored_file(dev.dir.path(), &a[0].0);
    let mut raw = std::fs::read(&fa).unwrap();
    raw[H + 100] ^= 0x40;
    std::fs::write(&fa, &raw).unwrap();
    let fb = stored_file(dev.dir.path(), &b[0].0);
    let mut f = std::fs::OpenOptions::new().write(true).open(&fb).unwrap();
    f.set_len((H + PER) as u64).unwrap();
    f.flush().unwrap();
    drop(f);
    let (before_a, before_b) = (std::fs::read(&fa).unwrap(), std::fs::read(&fb).unwrap());

    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let r = engine
        .sync()
        .await
        .expect("broken seals do not fail the run");
    let mut q: Vec<(String, QuarantineReason)> = r
        .quarantined
        .iter()
        .map(|q| (q.record_id.clone(), q.reason.clone()))
        .collect();
    q.sort_by(|x, y| x.0.cmp(&y.0));
    let mut want = vec![
        (
            altered_id.clone(),
            QuarantineReason::PhotoAltered {
                sha256: a[0].0.clone(),
            },
        ),
        (
            cut_id.clone(),
            QuarantineReason::PhotoAltered {
                sha256: b[0].0.clone(),
            },
        ),
    ];
    want.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(q, want);
    // The reason is persisted, and the files are left as they were for the worker's repair.
    let listed = dev.worker.quarantined_records().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(std::fs::read(&fa).unwrap(), before_a);
    assert_eq!(std::fs::read(&fb).unwrap(), before_b);
    // Everything else reached the server.
    let held: Vec<String> = server
        .records("report", "applied")
        .await
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(held, vec![good_id]);
    assert_eq!(server.photo(&c[0].0).await.as_deref(), Some(&c[0].1[..]));
    assert!(server.photo(&a[0].0).await.is_none());
    assert_eq!(
        server.records("checkin", "applied").await.len(),
        checkins.len()
    );
    assert_eq!(dev.pending(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enc_photo_plain_store_is_sealed_then_rekeyed_across_a_crash_and_syncs() {
    let server = RealServer::start(&["tok"]);
    let gallery = tempfile::tempdir().unwrap();
    let dev = Device::new(&server.url);
    dev.check_ins(1);
    let (_, a) = report(&dev, gallery.path(), &[80_000, 140_000], 1);
    let (_, b) = report(&dev, gallery.path(), &[CHUNK * 2], 2);
    let shots: Vec<_> = a.into_iter().chain(b).collect();
    let plain: Vec<Vec<u8>> = shots.iter().map(|s| s.1.clone()).collect();
    let dir = dev.dir.path().to_path_buf();
    // Debris of a plain store's killed staging.
    std::fs::create_dir_all(dir.join("photos/tmp")).unwrap();
    std::fs::write(dir.join("photos/tmp/x.part"), &plain[0][..5000]).unwrap();

    // Plain -> sealed.
    let (k1, k2) = (key(1), key(2));
    let rep = photos::seal_all_plain(&dir, &k1).unwrap();
    assert_eq!(
        (rep.sealed, rep.already, rep.plain_debris_removed),
        (3, 0, 1),
        "{rep:?}"
    );
    assert!(rep.unreadable.is_empty());
    assert_no_plaintext_photos(&dir, &plain);
    // Run again (a crash after the last rename): nothing left to do.
    let rep = photos::seal_all_plain(&dir, &k1).unwrap();
    assert_eq!((rep.sealed, rep.already), (0, 3));
    // The first open with the key migrates the database; the photos it finds sealed stay.
    let dev = dev.reopen_with_key(Some(DatabaseKey::from_bytes([1; 32])));
    for (sha, bytes) in &shots {
        assert_eq!(
            dev.worker.photo_bytes(sha).unwrap().as_deref(),
            Some(&bytes[..])
        );
    }

    // Rekey k1 -> k2, killed after some files were renamed: simulated by putting one
    // file's k1 version back (each file is replaced by one rename) and leaving a
    // half-written copy in the temp folder.
    let before: Vec<(PathBuf, Vec<u8>)> = photo_files(&dir)
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    let rep = photos::reseal_all(&dir, Some(&k1), &k2).unwrap();
    assert_eq!(rep.sealed, 3);
    std::fs::write(&before[1].0, &before[1].1).unwrap();
    std::fs::write(dir.join("photos/tmp/half.jpg.reseal"), &before[0].1[..3000]).unwrap();
    let both = [k1.clone(), k2.clone()];
    let mut under_old = 0;
    for (sha, bytes) in &shots {
        let f = stored_file(&dir, sha);
        let mut r = photos::open_file(&f, sha, &both).unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(
            &out, bytes,
            "readable with the old or the new key mid-rekey"
        );
        under_old += usize::from(photos::open_file(&f, sha, std::slice::from_ref(&k2)).is_err());
    }
    assert_eq!(under_old, 1);
    // The rekey run again finishes the job.
    let rep = photos::reseal_all(&dir, Some(&k1), &k2).unwrap();
    assert_eq!((rep.sealed, rep.already), (1, 2), "{rep:?}");
    assert!(!dir.join("photos/tmp/half.jpg.reseal").exists());
    // The store's own rekey: the database goes to k2, and the photos (already under k2
    // from the interrupted run above) are found done.
    let dev = dev.rekey(DatabaseKey::from_bytes([2; 32]));
    for (sha, bytes) in &shots {
        assert_eq!(
            dev.worker.photo_bytes(sha).unwrap().as_deref(),
            Some(&bytes[..])
        );
    }
    assert!(
        photos::reseal_all(&dir, Some(&k2), &k2).is_err(),
        "same key refused"
    );

    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let r = engine.sync().await.unwrap();
    assert!(r.quarantined.is_empty(), "{r:?}");
    for (sha, bytes) in &shots {
        assert_eq!(server.photo(sha).await.as_deref(), Some(&bytes[..]));
    }
    assert_all_synced_once(&dev, &server).await;
    assert_no_plaintext_photos(&dir, &plain);
}
