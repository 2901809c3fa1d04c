//! Residents and household profiles (信息采集, protocol 4): stored with versions and the
//! history of every field change; phones' edits merged field by field with the back
//! office's (docs/protocol.md §4.7); conflicts kept, listed and resolved; every change
//! mirrored into the pull feed of the household's grid.

pub mod admin;
pub(crate) mod edit;
pub(crate) mod seed;
pub(crate) mod store;

/// The day a new ID number's birth date may not be after (`idcard::check_born_by`). The
/// server knows no district time zone, so it takes the latest calendar day on Earth
/// (UTC+14): a phone checks against its own district's day, and a number it accepted must
/// never be refused here because the server's day had not yet begun (the refused payload
/// would be lost, not kept).
pub(crate) fn today() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(14)).date_naive()
}
