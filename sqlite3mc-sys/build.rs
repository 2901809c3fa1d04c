//! gridworker fork of libsqlite3-sys 0.35.0's build script.
//!
//! Whatever features are enabled, this ALWAYS compiles the SQLite3 Multiple
//! Ciphers amalgamation (from the `sqlite3mc-src` crate) into a static lib and
//! links it. It never looks for a system SQLite, pkg-config or vcpkg, so a
//! plain `cargo build` works on a machine with only Rust + a C compiler, and
//! there is no way to silently end up with an unencrypted system SQLite.
//! Rust bindings are the prebuilt ones shipped by libsqlite3-sys 0.35.0
//! (SQLite 3.50 API; SQLite's ABI is backward compatible, sqlite3mc 2.6.1 is
//! SQLite 3.54.0). The sqlite3mc-only functions are declared in src/lib.rs.
use std::env;
use std::path::Path;

fn main() {
    for f in [
        "sqlcipher",
        "bundled-sqlcipher",
        "loadable_extension",
        "buildtime_bindgen",
        "in_gecko",
        "preupdate_hook",
        "session",
    ] {
        let var = format!("CARGO_FEATURE_{}", f.to_uppercase().replace('-', "_"));
        if env::var_os(var).is_some() {
            panic!("libsqlite3-sys (sqlite3mc fork): feature `{f}` is not supported");
        }
    }

    let out_dir = env::var("OUT_DIR").unwrap();
    std::fs::copy(
        "sqlite3/bindgen_bundled_version.rs",
        Path::new(&out_dir).join("bindgen.rs"),
    )
    .expect("copy bindings");

    let src_dir = sqlite3mc_src::source_dir();
    let src = src_dir.join(sqlite3mc_src::SOURCE_FILE);
    // Expose a `sqlite3.h` for dependents (DEP_SQLITE3_INCLUDE), like upstream.
    let inc = Path::new(&out_dir).join("include");
    std::fs::create_dir_all(&inc).unwrap();
    std::fs::copy(src_dir.join(sqlite3mc_src::HEADER_FILE), inc.join("sqlite3.h")).unwrap();
    std::fs::copy(src_dir.join(sqlite3mc_src::EXTENSION_HEADER_FILE), inc.join("sqlite3ext.h")).unwrap();
    println!("cargo:include={}", inc.display());
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed=build.rs");

    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let windows = env::var_os("CARGO_CFG_WINDOWS").is_some();

    let mut cfg = cc::Build::new();
    cfg.file(&src)
        // --- upstream libsqlite3-sys `bundled` options, less what the core never uses:
        // FTS3/4 (the search index is FTS5), R-tree (the spatial index is in Rust), dbstat,
        // soundex, column metadata and extension loading (an app's store loads no code).
        // Measured: -0.11 MiB on the release cdylib. STAT4 is out too: nothing runs ANALYZE
        // or `PRAGMA optimize`, so its histograms never exist.
        .define("SQLITE_CORE", None)
        .define("SQLITE_DEFAULT_FOREIGN_KEYS", "1")
        .define("SQLITE_ENABLE_API_ARMOR", None)
        .define("SQLITE_ENABLE_FTS5", None)
        .define("SQLITE_ENABLE_JSON1", None)
        .define("SQLITE_OMIT_LOAD_EXTENSION", "1")
        .define("SQLITE_ENABLE_MEMORY_MANAGEMENT", None)
        // SQLite's recommended options that change no API the core or rusqlite calls
        // (rusqlite's hooks call the progress handler and authorizer on close: those stay).
        // With STAT4 out and the last three: -14,848 bytes (2026-12-02).
        .define("SQLITE_DQS", "0")
        .define("SQLITE_DEFAULT_MEMSTATUS", "0")
        .define("SQLITE_LIKE_DOESNT_MATCH_BLOBS", None)
        .define("SQLITE_MAX_EXPR_DEPTH", "0")
        .define("SQLITE_OMIT_DEPRECATED", None)
        .define("SQLITE_OMIT_SHARED_CACHE", None)
        .define("SQLITE_USE_ALLOCA", None)
        .define("SQLITE_OMIT_INTROSPECTION_PRAGMAS", None)
        // No unwind tables for C: nothing unwinds through SQLite (rusqlite catches panics in
        // the callbacks it installs), and the tables are a tenth of the library's code size.
        .flag_if_supported("-fno-asynchronous-unwind-tables")
        .flag_if_supported("-fno-unwind-tables")
        .define("SQLITE_THREADSAFE", "1")
        .define("SQLITE_USE_URI", None)
        .define("HAVE_USLEEP", "1")
        .define("HAVE_ISNAN", None)
        .define("_POSIX_THREAD_SAFE_FUNCTIONS", None)
        .warnings(false);
    // --- sqlite3mc: ChaCha20-Poly1305 only (sqleet scheme), default cipher ---
    // (SQLITE3MC_ALL_CIPHERS=1 keeps sqlite3mc's default cipher set; only
    // used to measure what the trimming saves.)
    println!("cargo:rerun-if-env-changed=SQLITE3MC_ALL_CIPHERS");
    if env::var_os("SQLITE3MC_ALL_CIPHERS").is_none() {
        cfg.define("HAVE_CIPHER_CHACHA20", "1")
        .define("HAVE_CIPHER_AES_128_CBC", "0")
        .define("HAVE_CIPHER_AES_256_CBC", "0")
        .define("HAVE_CIPHER_SQLCIPHER", "0")
        .define("HAVE_CIPHER_RC4", "0")
        .define("HAVE_CIPHER_ASCON128", "0")
        .define("HAVE_CIPHER_AEGIS", "0")
        .define("CODEC_TYPE", "CODEC_TYPE_CHACHA20")
        .define("SQLITE3MC_OMIT_AES_HARDWARE_SUPPORT", "1");
    }
    if !windows {
        cfg.define("HAVE_LOCALTIME_R", None);
    }
    // Temp files (sorts, temp tables) in memory: never unencrypted on disk.
    // (sqlite3mc's default is 2 as well; Android upstream uses 3.)
    cfg.define("SQLITE_TEMP_STORE", if target_os == "android" { "3" } else { "2" });
    if env::var_os("CARGO_FEATURE_UNLOCK_NOTIFY").is_some() {
        cfg.define("SQLITE_ENABLE_UNLOCK_NOTIFY", None);
    }
    if let Ok(extras) = env::var("LIBSQLITE3_FLAGS") {
        for extra in extras.split_whitespace() {
            cfg.flag(extra);
        }
    }
    println!("cargo:rerun-if-env-changed=LIBSQLITE3_FLAGS");
    cfg.compile("sqlite3mc");
    println!("cargo:lib_dir={out_dir}");
}
