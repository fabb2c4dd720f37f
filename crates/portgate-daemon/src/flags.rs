//! The miniupnpd-compatible command line, and its merge over the file.
//!
//! Flags win over `miniupnpd.conf`; `-a` and `-A` add to the file's
//! `listening_ip` lines and rules (the `-A` rules come after the file's, so
//! the file's rules take precedence under first-match-wins, as in
//! miniupnpd). `-S0` turns secure mode off; `-S` alone (or `-S1`) turns it
//! on. `-o STUN:host[:port]` enables STUN instead of naming the address.

use std::path::{Path, PathBuf};

use clap::{ArgAction, Parser};

use crate::config::{Config, ConfigError, LineError};

/// Where the configuration is read when `-f` is not given (Debian's path).
pub const DEFAULT_CONFIG_PATH: &str = "/etc/miniupnpd/miniupnpd.conf";

/// Command-line flags of portgated (the letters are miniupnpd's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Parser)]
#[command(
    name = "portgated",
    version,
    about = "UPnP IGD, NAT-PMP and PCP gateway daemon (miniupnpd-compatible)"
)]
pub struct Flags {
    /// Configuration file (miniupnpd.conf format).
    #[arg(short = 'f', value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// WAN interface (ext_ifname).
    #[arg(short = 'i', value_name = "EXT_IFNAME")]
    pub ext_ifname: Option<String>,
    /// WAN interface for IPv6 (ext_ifname6).
    #[arg(short = 'I', value_name = "EXT_IFNAME6")]
    pub ext_ifname6: Option<String>,
    /// External address (ext_ip), or `STUN:host[:port]` to learn it by STUN.
    #[arg(short = 'o', value_name = "EXT_IP|STUN:HOST[:PORT]")]
    pub ext_ip: Option<String>,
    /// LAN interface or address[/mask] to listen on (repeatable).
    #[arg(short = 'a', value_name = "LISTENING_IP", action = ArgAction::Append)]
    pub listening_ip: Vec<String>,
    /// HTTP port (0: any).
    #[arg(short = 'p', value_name = "PORT")]
    pub port: Option<String>,
    /// Debug: stay in the foreground and log to stderr at debug level (without it or
    /// --foreground, portgated forks into the background and logs to syslog).
    #[arg(short = 'd')]
    pub foreground: bool,
    /// More log output (repeatable).
    #[arg(short = 'v', action = ArgAction::Count)]
    pub verbose: u8,
    /// Enable NAT-PMP and PCP.
    #[arg(short = 'N')]
    pub enable_natpmp: bool,
    /// Secure mode: -S0 off, -S or -S1 on.
    #[arg(short = 'S', value_name = "0|1", num_args = 0..=1,
          default_missing_value = "1", value_parser = ["0", "1"])]
    pub secure_mode: Option<String>,
    /// Permission rule "allow|deny EPORT[-EPORT] IP[/MASK] IPORT[-IPORT]" (repeatable).
    #[arg(short = 'A', value_name = "RULE", action = ArgAction::Append)]
    pub rules: Vec<String>,
    /// Root device UUID.
    #[arg(short = 'u', value_name = "UUID")]
    pub uuid: Option<String>,
    /// Serial number in the description.
    #[arg(short = 's', value_name = "SERIAL")]
    pub serial: Option<String>,
    /// Model number in the description.
    #[arg(short = 'm', value_name = "MODEL_NUMBER")]
    pub model_number: Option<String>,
    /// SSDP NOTIFY interval, seconds.
    #[arg(short = 't', value_name = "NOTIFY_INTERVAL")]
    pub notify_interval: Option<String>,
    /// PID file, locked while running: a second instance refuses to start (default as
    /// root: /run/portgated.pid, /run/portgated-NAME.pid in a network namespace named
    /// NAME by `ip netns`).
    #[arg(short = 'P', value_name = "PIDFILE")]
    pub pidfile: Option<PathBuf>,
    /// Report system uptime instead of daemon uptime.
    #[arg(short = 'U')]
    pub system_uptime: bool,
    /// Announce an IGD:1 description even when IGD:2 is configured.
    #[arg(short = '1')]
    pub force_igd_desc_v1: bool,
    /// Bitrates reported to clients, bits/s: DOWN UP.
    #[arg(short = 'B', num_args = 2, value_names = ["DOWN", "UP"])]
    pub bitrates: Vec<String>,
    /// Presentation URL.
    #[arg(short = 'w', value_name = "URL")]
    pub presentation_url: Option<String>,
    /// Interval between idle-mapping cleanups, seconds.
    #[arg(short = 'r', value_name = "CLEAN_RULESET_INTERVAL")]
    pub clean_ruleset_interval: Option<String>,
    /// BOOTID.UPNP.ORG value to start from.
    #[arg(short = 'b', value_name = "BOOTID")]
    pub bootid: Option<u32>,
    /// Stay in the foreground without debug logging (for a service manager:
    /// systemd's Type=notify, procd); without it or -d portgated forks into the
    /// background.
    #[arg(long = "foreground")]
    pub no_fork: bool,
    /// Where logs go: auto (stderr in the foreground, syslog in the background),
    /// stderr, or syslog (/dev/log, facility daemon, ident portgated).
    #[arg(
        long = "log",
        value_name = "auto|stderr|syslog",
        default_value = "auto"
    )]
    pub log: portgate_service::logging::LogTarget,
    /// Administration socket for `portgate admin` (control_socket; `none`: off).
    #[arg(long = "control-socket", value_name = "PATH")]
    pub control_socket: Option<String>,
    /// Print the effective configuration and exit.
    #[arg(long = "check-config")]
    pub check_config: bool,
}

impl Flags {
    /// Apply the flags over `cfg` (flags win). Bad values are
    /// [`ConfigError::Flag`].
    pub fn apply(&self, cfg: &mut Config) -> Result<(), ConfigError> {
        const AT: &str = "command line";
        let set = |cfg: &mut Config, key: &str, value: &str| {
            cfg.set(key, value, AT).map_err(ConfigError::Flag)
        };
        if let Some(v) = &self.ext_ifname {
            set(cfg, "ext_ifname", v)?;
        }
        if let Some(v) = &self.ext_ifname6 {
            set(cfg, "ext_ifname6", v)?;
        }
        if let Some(v) = &self.ext_ip {
            match v.get(..5).filter(|p| p.eq_ignore_ascii_case("STUN:")) {
                Some(_) => {
                    let target = v.get(5..).unwrap_or("");
                    let (host, port) = split_host_port(target);
                    set(cfg, "ext_perform_stun", "yes")?;
                    if host.is_empty() {
                        return Err(ConfigError::Flag(LineError::BadValue {
                            key: "-o".into(),
                            value: v.clone(),
                            why: "STUN needs a host".into(),
                        }));
                    }
                    set(cfg, "ext_stun_host", host)?;
                    if let Some(p) = port {
                        set(cfg, "ext_stun_port", p)?;
                    }
                }
                None => set(cfg, "ext_ip", v)?,
            }
        }
        for v in &self.listening_ip {
            set(cfg, "listening_ip", v)?;
        }
        if let Some(v) = &self.port {
            set(cfg, "port", v)?;
        }
        if self.enable_natpmp {
            set(cfg, "enable_natpmp", "yes")?;
        }
        if let Some(v) = &self.secure_mode {
            set(cfg, "secure_mode", v)?;
        }
        for r in &self.rules {
            let rule = crate::rules::Rule::parse(r).map_err(|e| ConfigError::Flag(e.into()))?;
            cfg.rules.push(rule);
        }
        if let Some(v) = &self.uuid {
            set(cfg, "uuid", v)?;
        }
        if let Some(v) = &self.serial {
            set(cfg, "serial", v)?;
        }
        if let Some(v) = &self.model_number {
            set(cfg, "model_number", v)?;
        }
        if let Some(v) = &self.notify_interval {
            set(cfg, "notify_interval", v)?;
        }
        if self.system_uptime {
            set(cfg, "system_uptime", "yes")?;
        }
        if self.force_igd_desc_v1 {
            set(cfg, "force_igd_desc_v1", "yes")?;
        }
        if let [down, up] = self.bitrates.as_slice() {
            set(cfg, "bitrate_down", down)?;
            set(cfg, "bitrate_up", up)?;
        }
        if let Some(v) = &self.presentation_url {
            set(cfg, "presentation_url", v)?;
        }
        if let Some(v) = &self.clean_ruleset_interval {
            set(cfg, "clean_ruleset_interval", v)?;
        }
        if let Some(v) = &self.control_socket {
            set(cfg, "control_socket", v)?;
        }
        cfg.check_consistency().map_err(ConfigError::Flag)
    }

    /// The file to read and whether `-f` named it.
    pub fn config_path(&self) -> (&Path, bool) {
        match &self.config {
            Some(p) => (p.as_path(), true),
            None => (Path::new(DEFAULT_CONFIG_PATH), false),
        }
    }

    /// Read the configuration file and apply the flags. A file named by
    /// `-f` must be readable; the default file may be absent (defaults are
    /// used, as miniupnpd does).
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let (path, explicit) = self.config_path();
        let mut cfg = match Config::load(path) {
            Ok(c) => c,
            Err(ConfigError::Io { source, .. })
                if !explicit && source.kind() == std::io::ErrorKind::NotFound =>
            {
                Config::default()
            }
            Err(e) => return Err(e),
        };
        self.apply(&mut cfg)?;
        Ok(cfg)
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`; a bare IPv6 literal has no port.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((h, tail)) = rest.split_once(']') {
            return (h, tail.strip_prefix(':'));
        }
        return (s, None);
    }
    match s.split_once(':') {
        Some((h, p)) if !p.contains(':') => (h, Some(p)),
        _ => (s, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{IgdVersion, ListenSpec};
    use std::net::Ipv4Addr;

    fn flags(args: &[&str]) -> Flags {
        Flags::try_parse_from(std::iter::once("portgated").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn merged(file: &str, args: &[&str]) -> Result<Config, ConfigError> {
        let mut c = Config::parse(file, "miniupnpd.conf")?;
        flags(args).apply(&mut c)?;
        Ok(c)
    }

    #[test]
    fn miniupnpd_style_argv() {
        let f = flags(&[
            "-f",
            "/tmp/x.conf",
            "-i",
            "eth1",
            "-a",
            "192.168.0.1/24",
            "-a",
            "br0",
            "-p",
            "5555",
            "-d",
            "-vv",
            "-N",
            "-S0",
            "-A",
            "allow 1024-65535 192.168.0.0/24 1024-65535",
            "-u",
            "01234567-89ab-cdef-0123-456789abcdef",
            "-t",
            "600",
            "-P",
            "/run/p.pid",
            "-U",
            "-1",
            "-B",
            "1000",
            "2000",
            "--check-config",
        ]);
        assert_eq!(f.config.as_deref(), Some(Path::new("/tmp/x.conf")));
        assert!(f.foreground && f.enable_natpmp && f.system_uptime && f.force_igd_desc_v1);
        assert!(f.check_config);
        assert_eq!(f.verbose, 2);
        assert_eq!(f.secure_mode.as_deref(), Some("0"));
        assert_eq!(f.listening_ip, vec!["192.168.0.1/24", "br0"]);
        assert_eq!(f.pidfile.as_deref(), Some(Path::new("/run/p.pid")));
        assert_eq!(f.config_path(), (Path::new("/tmp/x.conf"), true));

        let mut c = Config::default();
        f.apply(&mut c).unwrap();
        assert_eq!(c.ext_ifname.as_deref(), Some("eth1"));
        assert_eq!(c.listening_ip.len(), 2);
        assert_eq!(c.listening_ip[1], ListenSpec::Interface("br0".into()));
        assert_eq!(c.http_port, 5555);
        assert!(c.enable_natpmp && !c.secure_mode && c.system_uptime);
        assert_eq!(c.description_igd_version(), IgdVersion::V1);
        assert_eq!(c.notify_interval, 600);
        assert_eq!(c.rules.rules().len(), 1);
        assert_eq!((c.bitrate_down, c.bitrate_up), (Some(1000), Some(2000)));
        assert!(c.uuid.is_some());
    }

    #[test]
    fn secure_mode_forms() {
        assert_eq!(flags(&["-S"]).secure_mode.as_deref(), Some("1"));
        assert_eq!(flags(&["-S1"]).secure_mode.as_deref(), Some("1"));
        assert_eq!(flags(&["-S", "-N"]).secure_mode.as_deref(), Some("1"));
        assert_eq!(flags(&[]).secure_mode, None);
        assert!(Flags::try_parse_from(["portgated", "-S2"]).is_err());
        let c = merged("secure_mode=no\n", &["-S"]).unwrap();
        assert!(c.secure_mode);
    }

    #[test]
    fn flags_win_over_the_file() {
        let file = "ext_ifname=eth0\nport=80\nnotify_interval=30\nlistening_ip=lan0\n\
                    deny 0-65535 0.0.0.0/0 0-65535\n";
        let c = merged(
            file,
            &[
                "-i",
                "wan1",
                "-p",
                "81",
                "-a",
                "lan1",
                "-A",
                "allow 1 1.2.3.4 1",
            ],
        )
        .unwrap();
        assert_eq!(c.ext_ifname.as_deref(), Some("wan1"));
        assert_eq!(c.http_port, 81);
        assert_eq!(c.notify_interval, 30, "untouched by flags");
        assert_eq!(c.listening_ip.len(), 2);
        // File rules first, then -A rules: the file's deny still wins.
        assert!(!c.rules.is_allowed(1, Ipv4Addr::new(1, 2, 3, 4), 1, ""));
    }

    #[test]
    fn ext_ip_or_stun() {
        let c = merged("", &["-o", "203.0.113.7"]).unwrap();
        assert_eq!(c.ext_ip, Some(Ipv4Addr::new(203, 0, 113, 7)));
        assert!(!c.ext_perform_stun);
        let c = merged("", &["-o", "STUN:stun.example.net:3479"]).unwrap();
        assert!(c.ext_perform_stun);
        assert_eq!(c.ext_stun_host.as_deref(), Some("stun.example.net"));
        assert_eq!(c.ext_stun_port, 3479);
        let c = merged("", &["-o", "stun:[2001:db8::1]"]).unwrap();
        assert_eq!(c.ext_stun_host.as_deref(), Some("2001:db8::1"));
        assert_eq!(c.ext_stun_port, 3478);
        assert!(merged("", &["-o", "STUN:"]).is_err());
        assert!(merged("", &["-o", "STUN:h:0"]).is_err());
        assert!(merged("", &["-o", "gateway.example"]).is_err());
    }

    #[test]
    fn bad_flag_values_are_typed_errors() {
        for args in [
            &["-p", "65536"][..],
            &["-p", "80abc"],
            &["-t", "0"],
            &["-A", "allow 1 1.2.3.4"],
            &["-u", "nope"],
            &["-a", "1.2.3.4/40"],
            &["-B", "fast", "1"],
        ] {
            let e = merged("", args).unwrap_err();
            assert!(matches!(e, ConfigError::Flag(_)), "{args:?}: {e}");
            assert!(e.to_string().starts_with("command line: "), "{e}");
        }
        assert!(Flags::try_parse_from(["portgated", "-B", "1"]).is_err());
        assert!(Flags::try_parse_from(["portgated", "--bogus"]).is_err());
        let e = Flags::try_parse_from(["portgated", "--version"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayVersion);
        let e = Flags::try_parse_from(["portgated", "--help"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
    }

    #[test]
    fn load_config_explicit_vs_default() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.conf");
        std::fs::write(&p, "ext_ifname=eth9\n").unwrap();
        let f = flags(&["-f", p.to_str().unwrap(), "-p", "7"]);
        let c = f.load_config().unwrap();
        assert_eq!((c.ext_ifname.as_deref(), c.http_port), (Some("eth9"), 7));
        let missing = dir.path().join("missing.conf");
        let f = flags(&["-f", missing.to_str().unwrap()]);
        assert!(matches!(f.load_config(), Err(ConfigError::Io { .. })));
    }

    #[test]
    fn clap_definition_is_valid() {
        use clap::CommandFactory;
        Flags::command().debug_assert();
    }
}
