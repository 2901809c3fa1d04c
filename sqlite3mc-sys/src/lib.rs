#![expect(non_snake_case, non_camel_case_types)]

// force linking to openssl
#[cfg(feature = "bundled-sqlcipher-vendored-openssl")]
extern crate openssl_sys;

pub use self::error::*;

use std::mem;

mod error;

#[must_use]
pub fn SQLITE_STATIC() -> sqlite3_destructor_type {
    None
}

#[must_use]
pub fn SQLITE_TRANSIENT() -> sqlite3_destructor_type {
    Some(unsafe { mem::transmute::<isize, unsafe extern "C" fn(*mut std::ffi::c_void)>(-1_isize) })
}

#[allow(dead_code, clippy::all)]
mod bindings {
    include!(concat!(env!("OUT_DIR"), "/bindgen.rs"));
}
pub use bindings::*;

impl Default for sqlite3_vtab {
    fn default() -> Self {
        unsafe { mem::zeroed() }
    }
}

impl Default for sqlite3_vtab_cursor {
    fn default() -> Self {
        unsafe { mem::zeroed() }
    }
}

// --- SQLite3 Multiple Ciphers API (not in the prebuilt SQLite bindings) ---
// Key formats that bypass the KDF: b"raw:" + 32 key bytes, "raw:" + 64 hex
// chars, or SQLCipher style "x'<64 hex>'".
extern "C" {
    pub fn sqlite3_key_v2(
        db: *mut sqlite3,
        zDbName: *const std::os::raw::c_char,
        pKey: *const std::os::raw::c_void,
        nKey: std::os::raw::c_int,
    ) -> std::os::raw::c_int;
    pub fn sqlite3_rekey_v2(
        db: *mut sqlite3,
        zDbName: *const std::os::raw::c_char,
        pKey: *const std::os::raw::c_void,
        nKey: std::os::raw::c_int,
    ) -> std::os::raw::c_int;
    /// e.g. "SQLite3 Multiple Ciphers 2.6.1"
    pub fn sqlite3mc_version() -> *const std::os::raw::c_char;
}
