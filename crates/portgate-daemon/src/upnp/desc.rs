//! The description documents served over HTTP GET (UDA 1.1 §2): `rootDesc.xml` and
//! one SCPD per service, generated once at start-up from the configuration.

use portgate_proto::description::igd::{IgdService, ROOT_DESC_PATH};
use portgate_proto::description::IgdConfig;

/// The pre-rendered documents.
#[derive(Debug, Clone)]
pub struct Documents {
    root: Vec<u8>,
    scpds: Vec<(&'static str, Vec<u8>)>,
}

impl Documents {
    /// Renders the root description and the SCPD of every listed service.
    pub fn new(igd: &IgdConfig) -> Self {
        let mut root = Vec::new();
        igd.emit_description(&mut root);
        let mut services = vec![
            IgdService::Layer3Forwarding,
            IgdService::WanCommonInterfaceConfig,
        ];
        services.extend_from_slice(igd.connection_services());
        let scpds = services
            .into_iter()
            .map(|s| {
                let mut out = Vec::new();
                igd.emit_scpd(s, &mut out);
                (s.paths().scpd, out)
            })
            .collect();
        Self { root, scpds }
    }

    /// The document at `path` (the request target without query), if any.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        if path == ROOT_DESC_PATH {
            return Some(&self.root);
        }
        self.scpds
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, d)| d.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portgate_proto::description::IgdVersion;

    #[test]
    fn igd1_by_default_igd2_on_switch() {
        let d = Documents::new(&IgdConfig::default());
        let root = String::from_utf8_lossy(d.get("/rootDesc.xml").unwrap_or_default()).into_owned();
        assert!(root.contains("urn:schemas-upnp-org:device:InternetGatewayDevice:1"));
        assert!(root.contains("urn:schemas-upnp-org:service:WANIPConnection:1"));
        let cfg = IgdConfig {
            version: IgdVersion::V2,
            ..IgdConfig::default()
        };
        let d2 = Documents::new(&cfg);
        let root2 =
            String::from_utf8_lossy(d2.get("/rootDesc.xml").unwrap_or_default()).into_owned();
        assert!(root2.contains("InternetGatewayDevice:2"));
        let scpd = String::from_utf8_lossy(d2.get("/WANIPCn.xml").unwrap_or_default()).into_owned();
        assert!(scpd.contains("AddAnyPortMapping"));
        let scpd1 = String::from_utf8_lossy(d.get("/WANIPCn.xml").unwrap_or_default()).into_owned();
        assert!(!scpd1.contains("AddAnyPortMapping"));
        assert!(d.get("/L3F.xml").is_some() && d.get("/WANCfg.xml").is_some());
        assert!(d.get("/nope.xml").is_none() && d.get("/WANIP6FC.xml").is_none());
    }
}
