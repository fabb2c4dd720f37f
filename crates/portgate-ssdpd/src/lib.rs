//! portgate-ssdpd (being written).
