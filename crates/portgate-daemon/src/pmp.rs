//! NAT-PMP (RFC 6886) and PCP (RFC 6887) server handlers.
