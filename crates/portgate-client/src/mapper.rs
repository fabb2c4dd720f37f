//! The auto-renewing mapper (being written).
