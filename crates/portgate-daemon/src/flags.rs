//! The miniupnpd-compatible command line, and its merge over the file.
//!
//! Flags win over `miniupnpd.conf`; `-a` and `-A` add to the file's
//! `listening_ip` lines and rules (the `-A` rules come after the file's, so
//! the file's rules take precedence under first-match-wins, as in
//! miniupnpd). `-S0` turns secure mode off; `-S` alone (or `-S1`) turns it
//! on. `-o STUN:host[:port]` enables STUN instead of naming the address.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError, LineError};

/// Where the configuration is read when `-f` is not given (Debian's path).
pub const DEFAULT_CONFIG_PATH: &str = "/etc/miniupnpd/miniupnpd.conf";

/// `portgated --help`.
pub const HELP: &str = "\
UPnP IGD, NAT-PMP and PCP gateway daemon (miniupnpd-compatible)

Usage: portgated [OPTIONS]

Options:
  -f <CONFIG>                  Configuration file (miniupnpd.conf format)
  -i <EXT_IFNAME>              WAN interface (ext_ifname)
  -I <EXT_IFNAME6>             WAN interface for IPv6 (ext_ifname6)
  -o <EXT_IP|STUN:HOST[:PORT]> External address (ext_ip), or STUN:host[:port] to learn it by STUN
  -a <LISTENING_IP>            LAN interface or address[/mask] to listen on (repeatable)
  -p <PORT>                    HTTP port (0: any)
  -d                           Debug: stay in the foreground, log to stderr at debug level
  -v                           More log output (repeatable)
  -N                           Enable NAT-PMP and PCP
  -S[0|1]                      Secure mode: -S0 off, -S or -S1 on
  -A <RULE>                    Permission rule \"allow|deny EPORT[-EPORT] IP[/MASK] IPORT[-IPORT]\" (repeatable)
  -u <UUID>                    Root device UUID
  -s <SERIAL>                  Serial number in the description
  -m <MODEL_NUMBER>            Model number in the description
  -t <NOTIFY_INTERVAL>         SSDP NOTIFY interval, seconds
  -P <PIDFILE>                 PID file, locked while running: a second instance refuses to start
                               (default as root: /run/portgated.pid, /run/portgated-NAME.pid in a
                               network namespace named NAME by `ip netns`)
  -U                           Report system uptime instead of daemon uptime
  -1                           Announce an IGD:1 description even when IGD:2 is configured
  -B <DOWN> <UP>               Bitrates reported to clients, bits/s
  -w <URL>                     Presentation URL
  -r <CLEAN_RULESET_INTERVAL>  Interval between idle-mapping cleanups, seconds
  -b <BOOTID>                  BOOTID.UPNP.ORG value to start from
      --foreground             Stay in the foreground without debug logging (systemd, procd);
                               without it or -d portgated forks into the background
      --log <auto|stderr|syslog>
                               Where logs go: stderr in the foreground, syslog (/dev/log,
                               facility daemon, ident portgated) in the background (auto)
      --control-socket <PATH>  Administration socket for `portgate admin` (none: off)
      --check-config           Print the effective configuration and exit
  -h, --help                   Print help
  -V, --version                Print version

Environment:
  PORTGATE_LOG                 Log level: error, warn, info, debug, trace or off
  PORTGATE_SYSLOG_SOCKET       Another syslog socket than /dev/log
";

/// Command-line flags of portgated (the letters are miniupnpd's).
///
/// Parsed by a getopt-style parser ([`lexopt`]), not clap: the daemon is meant for
/// routers with little flash, and clap was an eighth of its binary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// Configuration file (miniupnpd.conf format).
    pub config: Option<PathBuf>,
    /// WAN interface (ext_ifname).
    pub ext_ifname: Option<String>,
    /// WAN interface for IPv6 (ext_ifname6).
    pub ext_ifname6: Option<String>,
    /// External address (ext_ip), or `STUN:host[:port]` to learn it by STUN.
    pub ext_ip: Option<String>,
    /// LAN interface or address[/mask] to listen on (repeatable).
    pub listening_ip: Vec<String>,
    /// HTTP port (0: any).
    pub port: Option<String>,
    /// Debug: stay in the foreground and log to stderr at debug level (without it or
    /// --foreground, portgated forks into the background and logs to syslog).
    pub foreground: bool,
    /// More log output (repeatable).
    pub verbose: u8,
    /// Enable NAT-PMP and PCP.
    pub enable_natpmp: bool,
    /// Secure mode: -S0 off, -S or -S1 on.
    pub secure_mode: Option<String>,
    /// Permission rule "allow|deny EPORT[-EPORT] IP[/MASK] IPORT[-IPORT]" (repeatable).
    pub rules: Vec<String>,
    /// Root device UUID.
    pub uuid: Option<String>,
    /// Serial number in the description.
    pub serial: Option<String>,
    /// Model number in the description.
    pub model_number: Option<String>,
    /// SSDP NOTIFY interval, seconds.
    pub notify_interval: Option<String>,
    /// PID file, locked while running: a second instance refuses to start (default as
    /// root: /run/portgated.pid, /run/portgated-NAME.pid in a network namespace named
    /// NAME by `ip netns`).
    pub pidfile: Option<PathBuf>,
    /// Report system uptime instead of daemon uptime.
    pub system_uptime: bool,
    /// Announce an IGD:1 description even when IGD:2 is configured.
    pub force_igd_desc_v1: bool,
    /// Bitrates reported to clients, bits/s: DOWN UP.
    pub bitrates: Vec<String>,
    /// Presentation URL.
    pub presentation_url: Option<String>,
    /// Interval between idle-mapping cleanups, seconds.
    pub clean_ruleset_interval: Option<String>,
    /// BOOTID.UPNP.ORG value to start from.
    pub bootid: Option<u32>,
    /// Stay in the foreground without debug logging (for a service manager:
    /// systemd's Type=notify, procd); without it or -d portgated forks into the
    /// background.
    pub no_fork: bool,
    /// Where logs go: auto (stderr in the foreground, syslog in the background),
    /// stderr, or syslog (/dev/log, facility daemon, ident portgated).
    pub log: portgate_service::logging::LogTarget,
    /// Administration socket for `portgate admin` (control_socket; `none`: off).
    pub control_socket: Option<String>,
    /// Print the effective configuration and exit.
    pub check_config: bool,
}

/// Why the command line did not give [`Flags`]: a request for help or the
/// version (exit 0), or a usage error (exit 2).
#[derive(Debug, PartialEq, Eq)]
pub enum FlagsError {
    /// `-h` / `--help`.
    Help,
    /// `-V` / `--version`.
    Version,
    /// A bad command line (unknown flag, missing or bad value).
    Usage(String),
}

impl std::fmt::Display for FlagsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlagsError::Help => f.write_str(HELP),
            FlagsError::Version => writeln!(f, "portgated {}", env!("CARGO_PKG_VERSION")),
            FlagsError::Usage(m) => write!(
                f,
                "error: {m}\n\nUsage: portgated [OPTIONS]\n\nFor more information, try '--help'."
            ),
        }
    }
}

impl From<lexopt::Error> for FlagsError {
    fn from(e: lexopt::Error) -> Self {
        FlagsError::Usage(e.to_string())
    }
}

fn string(v: OsString) -> Result<String, FlagsError> {
    v.into_string()
        .map_err(|v| FlagsError::Usage(format!("invalid UTF-8 in {v:?}")))
}

impl Flags {
    /// Parse the process's command line; print help, version or the usage error
    /// and exit (0 or 2) when there is no [`Flags`] to return.
    pub fn parse() -> Flags {
        match Flags::try_parse_from(std::env::args_os()) {
            Ok(f) => f,
            Err(e @ FlagsError::Usage(_)) => {
                eprintln!("{e}");
                std::process::exit(2)
            }
            Err(e) => {
                print!("{e}");
                std::process::exit(0)
            }
        }
    }

    /// Parse `args` (the first is the program name).
    pub fn try_parse_from<I>(args: I) -> Result<Flags, FlagsError>
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        use lexopt::prelude::*;
        let mut parser = lexopt::Parser::from_iter(args);
        let mut f = Flags::default();
        while let Some(arg) = parser.next()? {
            match arg {
                Short('f') => f.config = Some(parser.value()?.into()),
                Short('i') => f.ext_ifname = Some(string(parser.value()?)?),
                Short('I') => f.ext_ifname6 = Some(string(parser.value()?)?),
                Short('o') => f.ext_ip = Some(string(parser.value()?)?),
                Short('a') => f.listening_ip.push(string(parser.value()?)?),
                Short('p') => f.port = Some(string(parser.value()?)?),
                Short('d') => f.foreground = true,
                Short('v') => f.verbose = f.verbose.saturating_add(1),
                Short('N') => f.enable_natpmp = true,
                Short('S') => {
                    let v = match parser.optional_value() {
                        None => "1".to_owned(),
                        Some(v) => string(v)?,
                    };
                    if v != "0" && v != "1" {
                        return Err(FlagsError::Usage(format!(
                            "invalid value '{v}' for '-S': 0 or 1"
                        )));
                    }
                    f.secure_mode = Some(v);
                }
                Short('A') => f.rules.push(string(parser.value()?)?),
                Short('u') => f.uuid = Some(string(parser.value()?)?),
                Short('s') => f.serial = Some(string(parser.value()?)?),
                Short('m') => f.model_number = Some(string(parser.value()?)?),
                Short('t') => f.notify_interval = Some(string(parser.value()?)?),
                Short('P') => f.pidfile = Some(parser.value()?.into()),
                Short('U') => f.system_uptime = true,
                Short('1') => f.force_igd_desc_v1 = true,
                Short('B') => {
                    let down = string(parser.value()?)?;
                    let up = string(parser.value()?)?;
                    f.bitrates = vec![down, up];
                }
                Short('w') => f.presentation_url = Some(string(parser.value()?)?),
                Short('r') => f.clean_ruleset_interval = Some(string(parser.value()?)?),
                Short('b') => f.bootid = Some(parser.value()?.parse()?),
                Long("foreground") => f.no_fork = true,
                Long("log") => {
                    f.log = string(parser.value()?)?.parse().map_err(|e| {
                        FlagsError::Usage(format!("invalid value for '--log': {e}"))
                    })?;
                }
                Long("control-socket") => f.control_socket = Some(string(parser.value()?)?),
                Long("check-config") => f.check_config = true,
                Short('h') | Long("help") => return Err(FlagsError::Help),
                Short('V') | Long("version") => return Err(FlagsError::Version),
                _ => return Err(arg.unexpected().into()),
            }
        }
        Ok(f)
    }

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
        assert!(Flags::try_parse_from(["portgated", "-x"]).is_err());
        assert!(Flags::try_parse_from(["portgated", "stray"]).is_err());
        assert!(Flags::try_parse_from(["portgated", "-f"]).is_err());
        assert!(Flags::try_parse_from(["portgated", "-b", "x"]).is_err());
        for (arg, want) in [
            ("--version", FlagsError::Version),
            ("-V", FlagsError::Version),
            ("--help", FlagsError::Help),
            ("-h", FlagsError::Help),
        ] {
            assert_eq!(Flags::try_parse_from(["portgated", arg]), Err(want));
        }
        let version = FlagsError::Version.to_string();
        assert_eq!(
            version,
            format!("portgated {}\n", env!("CARGO_PKG_VERSION"))
        );
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
    fn help_lists_every_flag() {
        for flag in [
            "-f ",
            "-i ",
            "-I ",
            "-o ",
            "-a ",
            "-p ",
            "-d ",
            "-v ",
            "-N ",
            "-S[0|1]",
            "-A ",
            "-u ",
            "-s ",
            "-m ",
            "-t ",
            "-P ",
            "-U ",
            "-1 ",
            "-B ",
            "-w ",
            "-r ",
            "-b ",
            "--check-config",
        ] {
            assert!(
                HELP.contains(&format!("  {flag}")),
                "{flag} missing from --help"
            );
        }
    }

    #[test]
    fn attached_values_and_clusters() {
        let f = flags(&["-fconf", "-dNU", "-vvv", "-b7"]);
        assert_eq!(f.config.as_deref(), Some(Path::new("conf")));
        assert!(f.foreground && f.enable_natpmp && f.system_uptime);
        assert_eq!((f.verbose, f.bootid), (3, Some(7)));
    }
}
