//! portgate-client (being written).
