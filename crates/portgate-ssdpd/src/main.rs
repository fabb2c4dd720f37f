//! portgate-ssdpd binary (being written).
fn main() {}
