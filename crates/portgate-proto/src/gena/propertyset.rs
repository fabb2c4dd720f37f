//! GENA NOTIFY bodies: the e:propertyset document (UDA 1.1 §4.3.2) (being written).
