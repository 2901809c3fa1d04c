//! Packs the cdylib's relative relocations. Most of what a position-independent library
//! relocates at load time is pointers in read-only tables (vtables, string slices), one
//! 24-byte `.rela.dyn` entry each: 392 KiB of the release library. Packed, they take a few
//! KiB (bindings/README.md, "Library size").
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let profile = std::env::var("PROFILE").unwrap_or_default();
    match os.as_str() {
        // Android's packed format (APS2), which the loader reads from API 23 (minSdk is 26).
        "android" => println!("cargo:rustc-cdylib-link-arg=-Wl,--pack-dyn-relocs=android"),
        // DT_RELR needs glibc 2.36+ to load (Debian 12, Ubuntu 24.04); only the release
        // library, whose size is measured, so debug builds load on older desktops too.
        "linux" if env == "gnu" && profile == "release" => {
            println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs")
        }
        _ => {}
    }
    println!("cargo:rerun-if-changed=build.rs");
}
