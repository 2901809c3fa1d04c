//! Residents and household profiles (信息采集, protocol 4): stored with versions and the
//! history of every field change; phones' edits merged field by field with the back
//! office's (docs/protocol.md §4.7); conflicts kept, listed and resolved; every change
//! mirrored into the pull feed of the household's grid.

pub mod admin;
pub(crate) mod edit;
pub(crate) mod seed;
pub(crate) mod store;
