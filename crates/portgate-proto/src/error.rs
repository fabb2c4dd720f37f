//! The one error type every parser in this crate returns.

use thiserror::Error;

/// Why a sequence of bytes could not be decoded.
///
/// Parsers never panic on network data: truncated, oversized or garbage input always
/// ends up as one of these variants. `what` names the field or message being parsed so
/// that logs say where decoding stopped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the field or message was complete.
    #[error("{what}: truncated (need {need} bytes, have {have})")]
    Truncated {
        /// The field or message being read.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The input, or one field of it, is longer than a documented limit allows.
    #[error("{what}: too long (limit {limit})")]
    TooLong {
        /// The field or message being read.
        what: &'static str,
        /// The limit that was exceeded.
        limit: usize,
    },
    /// More repetitions of an element than a documented limit allows.
    #[error("{what}: too many (limit {limit})")]
    TooMany {
        /// The element being counted.
        what: &'static str,
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A field holds a value the protocol does not allow.
    #[error("{what}: invalid ({why})")]
    Invalid {
        /// The field or message being read.
        what: &'static str,
        /// Why the value is not acceptable.
        why: &'static str,
    },
    /// A version or type this implementation does not speak.
    #[error("{what}: unsupported value {value}")]
    Unsupported {
        /// The field being read.
        what: &'static str,
        /// The value found.
        value: u32,
    },
}

impl DecodeError {
    /// Shorthand for [`DecodeError::Invalid`].
    pub const fn invalid(what: &'static str, why: &'static str) -> Self {
        Self::Invalid { what, why }
    }

    /// Shorthand for [`DecodeError::Truncated`].
    pub const fn truncated(what: &'static str, need: usize, have: usize) -> Self {
        Self::Truncated { what, need, have }
    }
}
