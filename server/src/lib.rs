//! Reference sync server (placeholder).
