//! Network-namespace lab for portgate's end-to-end tests (being written).
