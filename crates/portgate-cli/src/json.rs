//! JSON for `--json` output and the administration socket: portgate-proto's small
//! JSON value (object members in the order they are written).

pub use portgate_proto::json::{obj, Value as Json};
