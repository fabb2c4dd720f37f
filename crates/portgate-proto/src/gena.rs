//! GENA eventing (UDA 1.1 §4) (being written).

pub mod propertyset;
