//! portgate-daemon (being written).
