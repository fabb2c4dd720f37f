//! `miniupnpd.conf`, read as is.
//!
//! The format is miniupnpd's: one `key=value` per line (blanks around `=`
//! and at both ends of the line are ignored), lines whose first non-blank
//! character is `#` are comments (a `#` later in a line is part of the
//! value, as in miniupnpd), blank lines are skipped, and lines starting with
//! `allow` or `deny` are [permission rules](crate::rules).
//!
//! An empty value (`ext_ifname6=`, `uuid=`: distribution scripts write them)
//! means "not set", the key's default, wherever miniupnpd reads it so; it
//! stays an error for `listening_ip`, `max_lifetime`, `force_igd_desc_v1`
//! (miniupnpd refuses those) and `enable_upnp` (miniupnpd reads it as "no",
//! against a default of yes). Free-text keys take an empty text.
//!
//! Unlike miniupnpd, which silently reads anything but `yes` as "no", a bad
//! value stops start-up: [`ConfigError`] names the file, the line and why
//! (`miniupnpd.conf:12: unknown key 'foo'`).
//!
//! # Keys
//!
//! Every Linux key of miniupnpd 2.3 is understood; see the fields of
//! [`Config`] for types and defaults. Notes on a few:
//!
//! - `port` and `http_port` are synonyms; `0` lets the kernel choose.
//! - `enable_natpmp` and `enable_pcp_pmp` are synonyms (one switch for both
//!   NAT-PMP and PCP, as in miniupnpd).
//! - `https_port` is accepted and stored, but portgated serves no HTTPS: a
//!   [`ConfigWarning`] is recorded so the daemon can log it.
//! - `packet_log`, `anchor`, `queue`, `tag` and `quickrules` configure BSD's
//!   pf; they appear in miniupnpd's sample file and are accepted and ignored
//!   (with a warning) so that file parses unchanged.
//!
//! Keys of portgate's own (miniupnpd refuses them, so only use them when the
//! file is meant for portgated):
//!
//! - `igd_version=1|2` (default 2, as Debian's and OpenWrt's miniupnpd,
//!   which are built with IGD:2): IGD version of the device description;
//!   `force_igd_desc_v1=yes` (miniupnpd's own switch, written by OpenWrt's
//!   `igdv1` option) still forces 1. IGD:2 actions are served either way.
//! - `max_mappings_per_client=N` (default [`DEFAULT_MAX_MAPPINGS_PER_CLIENT`]):
//!   quota per internal client across UPnP, NAT-PMP and PCP.
//! - `firewall_standalone=yes|no` (default yes): whether our nftables table
//!   also owns the inbound forward decision (see docs/design.md).
//! - `keep_table_on_exit=yes|no` (default no): leave our nftables table in
//!   place on shutdown.
//! - `http_max_connections=N` (default [`DEFAULT_HTTP_MAX_CONNECTIONS`]):
//!   concurrent HTTP connections accepted.
//! - `list_max_entries=N` (default [`DEFAULT_LIST_MAX_ENTRIES`]): most
//!   entries one GetListOfPortMappings answer carries.
//! - `control_socket=PATH` (default [`DEFAULT_CONTROL_SOCKET`]; `none` turns it
//!   off): the administration socket `portgate admin` speaks to (mode 0600).
//! - `metrics_listen=ADDR:PORT` (default off): a Prometheus text-format metrics
//!   listener; only a loopback address or one of the LAN addresses is accepted.
//! - `cgn_mode=yes` and the other `cgn_*` keys: CGN mode, a pool of external
//!   addresses shared by subscribers ([`crate::cgn::CgnConfig`], docs/scale.md).

use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use crate::rules::{Rule, RuleError, RuleSet};

mod value;

pub use value::{ListenSpec, Uuid};

/// Default HTTP port of the description/SOAP server (miniupnpd's 5000 when `port` is unset).
pub const DEFAULT_HTTP_PORT: u16 = 5000;
/// Default STUN port (RFC 5389 section 9).
pub const DEFAULT_STUN_PORT: u16 = 3478;
/// Default shortest PCP/NAT-PMP lease, seconds (RFC 6887 section 15 suggests 120).
pub const DEFAULT_MIN_LIFETIME: u32 = 120;
/// Default longest PCP/NAT-PMP lease, seconds (24 h, RFC 6887 section 15).
pub const DEFAULT_MAX_LIFETIME: u32 = 86_400;
/// Default SSDP NOTIFY interval, seconds: miniupnpd's default since 2.3.7 (before, 30 s);
/// NOTIFY max-age is twice the interval, 1800 s, the least UDA 1.1 section 1.2.2 asks.
pub const DEFAULT_NOTIFY_INTERVAL: u32 = 900;
/// Default minimum number of mappings before idle ones are cleaned (miniupnpd's 20).
pub const DEFAULT_CLEAN_RULESET_THRESHOLD: u32 = 20;
/// Default per-client mapping quota: generous for a game console or a
/// torrent client, small enough that one host cannot fill the table.
pub const DEFAULT_MAX_MAPPINGS_PER_CLIENT: u32 = 256;
/// Default cap on concurrent HTTP connections (SECURITY.md: bounded; docs/benchmarks.md:
/// 100 concurrent SOAP clients served without errors). A connection costs a few KiB.
pub const DEFAULT_HTTP_MAX_CONNECTIONS: u32 = 256;
/// Default cap on entries in one GetListOfPortMappings answer.
pub const DEFAULT_LIST_MAX_ENTRIES: u32 = 1000;
/// Default path of the administration socket (`control_socket`).
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/portgated.sock";
/// Default nftables table name of ours (when `upnp_table_name` is not set).
pub const DEFAULT_TABLE_NAME: &str = "portgate";
/// Default minissdpd socket path (miniupnpd's default).
pub const DEFAULT_MINISSDPD_SOCKET: &str = "/var/run/minissdpd.sock";
/// Longest accepted line, bytes. miniupnpd reads 1023; longer lines there are
/// split silently, here they are an error.
pub const CONFIG_LINE_MAX: usize = 1023;
/// Largest accepted config file, bytes: a real one is a few KiB.
pub const CONFIG_FILE_MAX: u64 = 1 << 20;
/// Longest free-text value (names, URLs), bytes: UDA 1.1 section 2.3 caps
/// friendlyName and friends at 64 characters and URLs are short; 256 leaves
/// room without letting a value grow without bound.
pub const TEXT_VALUE_MAX: usize = 256;

/// IGD version announced in the device description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IgdVersion {
    /// InternetGatewayDevice:1 (`force_igd_desc_v1=yes` or `igd_version=1`).
    V1,
    /// InternetGatewayDevice:2 (default, as miniupnpd built with IGD:2).
    V2,
}

impl IgdVersion {
    /// The version number (1 or 2).
    pub fn number(self) -> u8 {
        match self {
            IgdVersion::V1 => 1,
            IgdVersion::V2 => 2,
        }
    }
}

impl From<portgate_proto::description::IgdVersion> for IgdVersion {
    fn from(v: portgate_proto::description::IgdVersion) -> Self {
        match v {
            portgate_proto::description::IgdVersion::V1 => IgdVersion::V1,
            portgate_proto::description::IgdVersion::V2 => IgdVersion::V2,
        }
    }
}

/// The daemon configuration: `miniupnpd.conf` plus command-line flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `ext_ifname`: WAN interface (required to run; no default).
    pub ext_ifname: Option<String>,
    /// `ext_ifname6`: WAN interface for IPv6 when it differs.
    pub ext_ifname6: Option<String>,
    /// `ext_ip`: external IPv4 address to announce instead of the WAN one.
    pub ext_ip: Option<Ipv4Addr>,
    /// `ext_allow_private_ipv4` (default no): forward even when the external
    /// address is private/reserved.
    pub ext_allow_private_ipv4: bool,
    /// `ext_perform_stun` (default no): learn the external address by STUN.
    pub ext_perform_stun: bool,
    /// `ext_stun_host`: STUN server name or address (resolved at use site).
    pub ext_stun_host: Option<String>,
    /// `ext_stun_port` (default 3478).
    pub ext_stun_port: u16,
    /// `listening_ip` (repeatable): LAN interfaces or address/prefix.
    pub listening_ip: Vec<ListenSpec>,
    /// `ipv6_listening_ip`: LAN IPv6 address used in LOCATION URLs.
    pub ipv6_listening_ip: Option<Ipv6Addr>,
    /// `ipv6_disable` (default no).
    pub ipv6_disable: bool,
    /// `port` / `http_port` (default 5000; 0 = any).
    pub http_port: u16,
    /// `https_port`: accepted, not served (see module docs).
    pub https_port: Option<u16>,
    /// `enable_upnp` (default yes).
    pub enable_upnp: bool,
    /// `enable_natpmp` / `enable_pcp_pmp` (default no, as miniupnpd).
    pub enable_natpmp: bool,
    /// `min_lifetime` (default 120 s).
    pub min_lifetime: u32,
    /// `max_lifetime` (default 86400 s).
    pub max_lifetime: u32,
    /// `pcp_allow_thirdparty` (default no).
    pub pcp_allow_thirdparty: bool,
    /// `secure_mode` (default yes): a client maps only to itself.
    pub secure_mode: bool,
    /// `system_uptime` (default no): report system instead of daemon uptime.
    pub system_uptime: bool,
    /// `notify_interval` (default 900 s).
    pub notify_interval: u32,
    /// `clean_ruleset_interval` (default 0 = never), seconds.
    pub clean_ruleset_interval: u32,
    /// `clean_ruleset_threshold` (default 20).
    pub clean_ruleset_threshold: u32,
    /// `uuid`: root device UUID (`None`: a random one, logged, at start-up).
    pub uuid: Option<Uuid>,
    /// `serial` (default "00000000").
    pub serial: String,
    /// `model_number` (default "1").
    pub model_number: String,
    /// `friendly_name` (default "portgate router").
    pub friendly_name: String,
    /// `manufacturer_name` (default "portgate").
    pub manufacturer_name: String,
    /// `manufacturer_url` (default the project's URL).
    pub manufacturer_url: String,
    /// `model_name` (default "portgate router").
    pub model_name: String,
    /// `model_description` (default "portgate UPnP IGD").
    pub model_description: String,
    /// `model_url` (default the project's URL).
    pub model_url: String,
    /// `presentation_url`: `None` = `http://<lan address>/`, `Some("")` = omit.
    pub presentation_url: Option<String>,
    /// `bitrate_up`, bits/s (`None` = read from the interface).
    pub bitrate_up: Option<u64>,
    /// `bitrate_down`, bits/s (`None` = read from the interface).
    pub bitrate_down: Option<u64>,
    /// `lease_file`: where IPv4 mappings are persisted (none by default).
    pub lease_file: Option<PathBuf>,
    /// `lease_file6`: where IPv6 pinholes are persisted.
    pub lease_file6: Option<PathBuf>,
    /// `force_igd_desc_v1` (default no).
    pub force_igd_desc_v1: bool,
    /// `minissdpdsocket` (default /var/run/minissdpd.sock).
    pub minissdpdsocket: PathBuf,
    /// `upnp_table_name`: nftables filter table (miniupnpd layout when set).
    pub upnp_table_name: Option<String>,
    /// `upnp_nat_table_name`: nftables nat table.
    pub upnp_nat_table_name: Option<String>,
    /// `upnp_forward_chain`: chain for forward accepts.
    pub upnp_forward_chain: Option<String>,
    /// `upnp_nat_chain`: chain for DNAT.
    pub upnp_nat_chain: Option<String>,
    /// `upnp_nat_postrouting_chain`: chain for postrouting (hairpin/SNAT).
    pub upnp_nat_postrouting_chain: Option<String>,
    /// `upnp_nftables_family_split` (default no): `ip`/`ip6` tables instead of `inet`.
    pub upnp_nftables_family_split: bool,
    /// `igd_version` (ours, default 2).
    pub igd_version: IgdVersion,
    /// `max_mappings_per_client` (ours).
    pub max_mappings_per_client: u32,
    /// `firewall_standalone` (ours, default yes).
    pub firewall_standalone: bool,
    /// `keep_table_on_exit` (ours, default no).
    pub keep_table_on_exit: bool,
    /// `http_max_connections` (ours).
    pub http_max_connections: u32,
    /// `list_max_entries` (ours).
    pub list_max_entries: u32,
    /// `control_socket` (ours): administration socket, `None` = off.
    pub control_socket: Option<PathBuf>,
    /// `metrics_listen` (ours): Prometheus metrics listener, `None` = off.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The `cgn_*` keys (ours): CGN mode ([`crate::cgn`]).
    pub cgn: crate::cgn::CgnConfig,
    /// The `allow`/`deny` rules, in file order (then `-A` flags).
    pub rules: RuleSet,
    /// Non-fatal remarks found while reading (ignored keys, unsupported
    /// features); the daemon logs them. Not part of the configuration itself.
    pub warnings: Vec<ConfigWarning>,
}

impl Default for Config {
    fn default() -> Self {
        const URL: &str = "https://github.com/portgate/portgate";
        Config {
            ext_ifname: None,
            ext_ifname6: None,
            ext_ip: None,
            ext_allow_private_ipv4: false,
            ext_perform_stun: false,
            ext_stun_host: None,
            ext_stun_port: DEFAULT_STUN_PORT,
            listening_ip: Vec::new(),
            ipv6_listening_ip: None,
            ipv6_disable: false,
            http_port: DEFAULT_HTTP_PORT,
            https_port: None,
            enable_upnp: true,
            enable_natpmp: false,
            min_lifetime: DEFAULT_MIN_LIFETIME,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            pcp_allow_thirdparty: false,
            secure_mode: true,
            system_uptime: false,
            notify_interval: DEFAULT_NOTIFY_INTERVAL,
            clean_ruleset_interval: 0,
            clean_ruleset_threshold: DEFAULT_CLEAN_RULESET_THRESHOLD,
            uuid: None,
            serial: "00000000".to_owned(),
            model_number: "1".to_owned(),
            friendly_name: "portgate router".to_owned(),
            manufacturer_name: "portgate".to_owned(),
            manufacturer_url: URL.to_owned(),
            model_name: "portgate router".to_owned(),
            model_description: "portgate UPnP IGD".to_owned(),
            model_url: URL.to_owned(),
            presentation_url: None,
            bitrate_up: None,
            bitrate_down: None,
            lease_file: None,
            lease_file6: None,
            force_igd_desc_v1: false,
            minissdpdsocket: PathBuf::from(DEFAULT_MINISSDPD_SOCKET),
            upnp_table_name: None,
            upnp_nat_table_name: None,
            upnp_forward_chain: None,
            upnp_nat_chain: None,
            upnp_nat_postrouting_chain: None,
            upnp_nftables_family_split: false,
            igd_version: IgdVersion::V2,
            max_mappings_per_client: DEFAULT_MAX_MAPPINGS_PER_CLIENT,
            firewall_standalone: true,
            keep_table_on_exit: false,
            http_max_connections: DEFAULT_HTTP_MAX_CONNECTIONS,
            list_max_entries: DEFAULT_LIST_MAX_ENTRIES,
            control_socket: Some(PathBuf::from(DEFAULT_CONTROL_SOCKET)),
            metrics_listen: None,
            cgn: crate::cgn::CgnConfig::default(),
            rules: RuleSet::new(),
            warnings: Vec::new(),
        }
    }
}

/// A non-fatal remark about the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// Where it was found (`file:line`, or `command line`).
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line of the file is wrong.
    #[error("{file}:{line}: {kind}")]
    Line {
        /// File name as given.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        kind: LineError,
    },
    /// A command-line flag has a bad value.
    #[error("command line: {0}")]
    Flag(LineError),
}

/// What is wrong with one line (or flag).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The key is not one we know.
    #[error("unknown key '{0}'")]
    UnknownKey(String),
    /// A line that is neither a comment, a rule nor `key=value`.
    #[error("expected key=value, a rule or a comment")]
    NotKeyValue,
    /// The value does not fit the key.
    #[error("bad value '{value}' for '{key}': {why}")]
    BadValue {
        /// The key.
        key: String,
        /// The value as written.
        value: String,
        /// Why it is refused.
        why: String,
    },
    /// A permission rule does not parse.
    #[error("bad rule: {0}")]
    BadRule(#[from] RuleError),
    /// The line is longer than [`CONFIG_LINE_MAX`].
    #[error("line longer than {CONFIG_LINE_MAX} bytes")]
    TooLong,
    /// The file is larger than [`CONFIG_FILE_MAX`].
    #[error("file larger than {CONFIG_FILE_MAX} bytes")]
    TooLarge,
    /// Two keys disagree (e.g. `min_lifetime` above `max_lifetime`).
    #[error("{0}")]
    Inconsistent(String),
}

impl Config {
    /// Read and parse a file. Errors name the file as `path` displays.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        use std::io::Read as _;
        let io_err = |source| ConfigError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io_err)?;
        let mut text = String::new();
        file.take(CONFIG_FILE_MAX + 1)
            .read_to_string(&mut text)
            .map_err(io_err)?;
        let name = path.display().to_string();
        if text.len() as u64 > CONFIG_FILE_MAX {
            return Err(ConfigError::Line {
                file: name,
                line: 0,
                kind: LineError::TooLarge,
            });
        }
        Config::parse(&text, &name)
    }

    /// Parse the text of a `miniupnpd.conf`; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let mut cfg = Config::default();
        let mut lifetime_line = 0;
        for (idx, raw) in text.lines().enumerate() {
            let line_no = idx + 1;
            let at = |kind| ConfigError::Line {
                file: file.to_owned(),
                line: line_no,
                kind,
            };
            if raw.len() > CONFIG_LINE_MAX {
                return Err(at(LineError::TooLong));
            }
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if is_rule_line(line) {
                cfg.rules.push(Rule::parse(line).map_err(|e| at(e.into()))?);
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| at(LineError::NotKeyValue))?;
            let (key, value) = (key.trim(), value.trim());
            let location = format!("{file}:{line_no}");
            cfg.set(key, value, &location).map_err(at)?;
            if key == "min_lifetime" || key == "max_lifetime" {
                lifetime_line = line_no;
            }
        }
        cfg.check_consistency().map_err(|kind| ConfigError::Line {
            file: file.to_owned(),
            line: lifetime_line,
            kind,
        })?;
        Ok(cfg)
    }

    /// Cross-key checks, run after the file and again after flags.
    pub fn check_consistency(&self) -> Result<(), LineError> {
        if let Err(why) = self.cgn.build() {
            return Err(LineError::Inconsistent(why));
        }
        if self.min_lifetime > self.max_lifetime {
            return Err(LineError::Inconsistent(format!(
                "min_lifetime ({}) is above max_lifetime ({})",
                self.min_lifetime, self.max_lifetime
            )));
        }
        Ok(())
    }

    /// The IGD version the description announces (after `force_igd_desc_v1`).
    pub fn description_igd_version(&self) -> IgdVersion {
        if self.force_igd_desc_v1 {
            IgdVersion::V1
        } else {
            self.igd_version
        }
    }

    /// Set one key from its textual value, as a file line would.
    /// `location` is used for warnings only.
    pub fn set(&mut self, key: &str, value: &str, location: &str) -> Result<(), LineError> {
        use value::*;
        let bad = |why: &str| LineError::BadValue {
            key: key.to_owned(),
            value: value.to_owned(),
            why: why.to_owned(),
        };
        // miniupnpd reads an empty value of most keys as "not set" (distribution
        // scripts write `ext_ifname6=` or `uuid=` empty): the default then.
        let d = Config::default();
        let warn = |cfg: &mut Config, message: String| {
            cfg.warnings.push(ConfigWarning {
                location: location.to_owned(),
                message,
            })
        };
        match key {
            "ext_ifname" => self.ext_ifname = opt(value, ifname).map_err(bad)?,
            "ext_ifname6" => self.ext_ifname6 = opt(value, ifname).map_err(bad)?,
            "ext_ip" => {
                self.ext_ip =
                    opt(value, |v| v.parse().map_err(|_| "not an IPv4 address")).map_err(bad)?
            }
            "ext_allow_private_ipv4" => {
                self.ext_allow_private_ipv4 =
                    or(value, d.ext_allow_private_ipv4, boolean).map_err(bad)?
            }
            "ext_perform_stun" => {
                self.ext_perform_stun = or(value, d.ext_perform_stun, boolean).map_err(bad)?
            }
            "ext_stun_host" => self.ext_stun_host = opt(value, host).map_err(bad)?,
            "ext_stun_port" => {
                self.ext_stun_port = or(value, d.ext_stun_port, nonzero_port).map_err(bad)?
            }
            "listening_ip" => {
                if value.is_empty() {
                    return Err(bad("empty"));
                }
                for word in value.split_whitespace() {
                    self.listening_ip
                        .push(word.parse().map_err(|e: &str| bad(e))?);
                }
            }
            "ipv6_listening_ip" => {
                self.ipv6_listening_ip =
                    opt(value, |v| v.parse().map_err(|_| "not an IPv6 address")).map_err(bad)?
            }
            "ipv6_disable" => {
                self.ipv6_disable = or(value, d.ipv6_disable, boolean).map_err(bad)?
            }
            "port" | "http_port" => self.http_port = or(value, d.http_port, port).map_err(bad)?,
            "https_port" if value.is_empty() => self.https_port = None,
            "https_port" => {
                self.https_port = Some(port(value).map_err(bad)?);
                warn(
                    self,
                    "https_port: HTTPS is not supported, ignored".to_owned(),
                );
            }
            "enable_upnp" => self.enable_upnp = boolean(value).map_err(bad)?,
            "enable_natpmp" | "enable_pcp_pmp" => {
                self.enable_natpmp = or(value, d.enable_natpmp, boolean).map_err(bad)?
            }
            "min_lifetime" => {
                self.min_lifetime =
                    or(value, d.min_lifetime, |v| number(v, 1, u32::MAX)).map_err(bad)?
            }
            "max_lifetime" => self.max_lifetime = number(value, 1, u32::MAX).map_err(bad)?,
            "pcp_allow_thirdparty" => {
                self.pcp_allow_thirdparty =
                    or(value, d.pcp_allow_thirdparty, boolean).map_err(bad)?
            }
            "secure_mode" => self.secure_mode = or(value, d.secure_mode, boolean).map_err(bad)?,
            "system_uptime" => {
                self.system_uptime = or(value, d.system_uptime, boolean).map_err(bad)?
            }
            "notify_interval" => {
                self.notify_interval =
                    or(value, d.notify_interval, |v| number(v, 1, 86_400)).map_err(bad)?
            }
            "clean_ruleset_interval" => {
                self.clean_ruleset_interval =
                    or(value, d.clean_ruleset_interval, |v| number(v, 0, u32::MAX)).map_err(bad)?
            }
            "clean_ruleset_threshold" => {
                self.clean_ruleset_threshold =
                    or(value, d.clean_ruleset_threshold, |v| number(v, 0, u32::MAX)).map_err(bad)?
            }
            "uuid" => self.uuid = opt(value, str::parse).map_err(bad)?,
            "serial" => self.serial = text(value).map_err(bad)?,
            "model_number" => self.model_number = text(value).map_err(bad)?,
            "friendly_name" => self.friendly_name = text(value).map_err(bad)?,
            "manufacturer_name" => self.manufacturer_name = text(value).map_err(bad)?,
            "manufacturer_url" => self.manufacturer_url = text(value).map_err(bad)?,
            "model_name" => self.model_name = text(value).map_err(bad)?,
            "model_description" => self.model_description = text(value).map_err(bad)?,
            "model_url" => self.model_url = text(value).map_err(bad)?,
            "presentation_url" => self.presentation_url = Some(text(value).map_err(bad)?),
            "bitrate_up" => self.bitrate_up = opt(value, number_u64).map_err(bad)?,
            "bitrate_down" => self.bitrate_down = opt(value, number_u64).map_err(bad)?,
            "lease_file" => self.lease_file = opt(value, path).map_err(bad)?,
            "lease_file6" => self.lease_file6 = opt(value, path).map_err(bad)?,
            "force_igd_desc_v1" => self.force_igd_desc_v1 = boolean(value).map_err(bad)?,
            "minissdpdsocket" => {
                self.minissdpdsocket = or(value, d.minissdpdsocket, path).map_err(bad)?
            }
            "upnp_table_name" => self.upnp_table_name = opt(value, nft_name).map_err(bad)?,
            "upnp_nat_table_name" => {
                self.upnp_nat_table_name = opt(value, nft_name).map_err(bad)?
            }
            "upnp_forward_chain" => self.upnp_forward_chain = opt(value, nft_name).map_err(bad)?,
            "upnp_nat_chain" => self.upnp_nat_chain = opt(value, nft_name).map_err(bad)?,
            "upnp_nat_postrouting_chain" => {
                self.upnp_nat_postrouting_chain = opt(value, nft_name).map_err(bad)?
            }
            "upnp_nftables_family_split" => {
                self.upnp_nftables_family_split =
                    or(value, d.upnp_nftables_family_split, boolean).map_err(bad)?
            }
            "igd_version" => {
                self.igd_version = match value {
                    "1" => IgdVersion::V1,
                    "2" => IgdVersion::V2,
                    _ => return Err(bad("must be 1 or 2")),
                }
            }
            "max_mappings_per_client" => {
                self.max_mappings_per_client = number(value, 1, 65_535).map_err(bad)?
            }
            "firewall_standalone" => self.firewall_standalone = boolean(value).map_err(bad)?,
            "keep_table_on_exit" => self.keep_table_on_exit = boolean(value).map_err(bad)?,
            "http_max_connections" => {
                self.http_max_connections = number(value, 1, 65_535).map_err(bad)?
            }
            "list_max_entries" => self.list_max_entries = number(value, 1, 65_535).map_err(bad)?,
            "control_socket" => {
                self.control_socket = match value {
                    "none" => None,
                    _ => Some(path(value).map_err(bad)?),
                }
            }
            "metrics_listen" => {
                self.metrics_listen = match value {
                    "" | "none" => None,
                    _ => Some(metrics_address(value).map_err(bad)?),
                }
            }
            "packet_log" | "anchor" | "queue" | "tag" | "quickrules" => {
                warn(self, format!("{key}: BSD pf option, ignored on Linux"));
            }
            _ if crate::cgn::CgnConfig::owns(key) => {
                if !self.cgn.set(key, value).map_err(|w| bad(&w))? {
                    return Err(LineError::UnknownKey(key.to_owned()));
                }
            }
            _ => return Err(LineError::UnknownKey(key.to_owned())),
        }
        Ok(())
    }

    /// The effective configuration as `miniupnpd.conf` text (for
    /// `--check-config`): every key, unset optional keys as `#key=` comments,
    /// then the rules. Parsing it back gives an equal `Config` (warnings aside).
    pub fn effective_text(&self) -> String {
        let mut out = String::from("# portgated effective configuration\n");
        let mut kv = |key: &str, value: Option<String>| {
            // Writing to a String cannot fail.
            let _ = match value {
                Some(v) => writeln!(out, "{key}={v}"),
                None => writeln!(out, "#{key}="),
            };
        };
        let yn = |b: bool| Some(if b { "yes" } else { "no" }.to_owned());
        let s = |v: &Option<String>| v.clone();
        let d = |v: &dyn fmt::Display| Some(v.to_string());
        kv("ext_ifname", s(&self.ext_ifname));
        kv("ext_ifname6", s(&self.ext_ifname6));
        kv("ext_ip", self.ext_ip.map(|a| a.to_string()));
        kv("ext_allow_private_ipv4", yn(self.ext_allow_private_ipv4));
        kv("ext_perform_stun", yn(self.ext_perform_stun));
        kv("ext_stun_host", s(&self.ext_stun_host));
        kv("ext_stun_port", d(&self.ext_stun_port));
        if self.listening_ip.is_empty() {
            kv("listening_ip", None);
        }
        for l in &self.listening_ip {
            kv("listening_ip", d(l));
        }
        kv(
            "ipv6_listening_ip",
            self.ipv6_listening_ip.map(|a| a.to_string()),
        );
        kv("ipv6_disable", yn(self.ipv6_disable));
        kv("http_port", d(&self.http_port));
        kv("https_port", self.https_port.map(|p| p.to_string()));
        kv("enable_upnp", yn(self.enable_upnp));
        kv("enable_natpmp", yn(self.enable_natpmp));
        kv("min_lifetime", d(&self.min_lifetime));
        kv("max_lifetime", d(&self.max_lifetime));
        kv("pcp_allow_thirdparty", yn(self.pcp_allow_thirdparty));
        kv("secure_mode", yn(self.secure_mode));
        kv("system_uptime", yn(self.system_uptime));
        kv("notify_interval", d(&self.notify_interval));
        kv("clean_ruleset_interval", d(&self.clean_ruleset_interval));
        kv("clean_ruleset_threshold", d(&self.clean_ruleset_threshold));
        kv("uuid", self.uuid.map(|u| u.to_string()));
        kv("serial", d(&self.serial));
        kv("model_number", d(&self.model_number));
        kv("friendly_name", d(&self.friendly_name));
        kv("manufacturer_name", d(&self.manufacturer_name));
        kv("manufacturer_url", d(&self.manufacturer_url));
        kv("model_name", d(&self.model_name));
        kv("model_description", d(&self.model_description));
        kv("model_url", d(&self.model_url));
        kv("presentation_url", s(&self.presentation_url));
        kv("bitrate_up", self.bitrate_up.map(|b| b.to_string()));
        kv("bitrate_down", self.bitrate_down.map(|b| b.to_string()));
        kv(
            "lease_file",
            self.lease_file.as_ref().map(|p| p.display().to_string()),
        );
        kv(
            "lease_file6",
            self.lease_file6.as_ref().map(|p| p.display().to_string()),
        );
        kv("force_igd_desc_v1", yn(self.force_igd_desc_v1));
        kv(
            "minissdpdsocket",
            Some(self.minissdpdsocket.display().to_string()),
        );
        kv("upnp_table_name", s(&self.upnp_table_name));
        kv("upnp_nat_table_name", s(&self.upnp_nat_table_name));
        kv("upnp_forward_chain", s(&self.upnp_forward_chain));
        kv("upnp_nat_chain", s(&self.upnp_nat_chain));
        kv(
            "upnp_nat_postrouting_chain",
            s(&self.upnp_nat_postrouting_chain),
        );
        kv(
            "upnp_nftables_family_split",
            yn(self.upnp_nftables_family_split),
        );
        kv("igd_version", d(&self.igd_version.number()));
        kv("max_mappings_per_client", d(&self.max_mappings_per_client));
        kv("firewall_standalone", yn(self.firewall_standalone));
        kv("keep_table_on_exit", yn(self.keep_table_on_exit));
        kv("http_max_connections", d(&self.http_max_connections));
        kv("list_max_entries", d(&self.list_max_entries));
        kv(
            "control_socket",
            Some(
                self.control_socket
                    .as_ref()
                    .map_or_else(|| "none".to_owned(), |p| p.display().to_string()),
            ),
        );
        kv("metrics_listen", self.metrics_listen.map(|a| a.to_string()));
        for (key, value) in self.cgn.lines() {
            kv(key, value);
        }
        if self.rules.is_empty() {
            out.push_str("# no permission rules: every request is allowed\n");
        }
        for r in self.rules.rules() {
            let _ = writeln!(out, "{r}");
        }
        out
    }
}

/// A metrics listener address: `ADDR:PORT` with a non-zero port and an address that
/// is not unspecified (the listener is for the host itself or the LAN, never every
/// interface; whether a non-loopback address is a LAN one is checked at start-up).
fn metrics_address(value: &str) -> Result<std::net::SocketAddr, &'static str> {
    let a: std::net::SocketAddr = value.parse().map_err(|_| "expected ADDR:PORT")?;
    if a.port() == 0 {
        return Err("port 0");
    }
    if a.ip().is_unspecified() || a.ip().is_multicast() {
        return Err("must be a loopback or LAN address, not a wildcard");
    }
    Ok(a)
}

/// miniupnpd treats a line as a rule when it starts with `allow` or `deny`
/// and is longer than 6 bytes; we require the word to end there too, so a
/// key like `allow_foo=1` is reported as an unknown key.
fn is_rule_line(line: &str) -> bool {
    ["allow", "deny"].iter().any(|w| {
        line.strip_prefix(w)
            .is_some_and(|rest| rest.starts_with(char::is_whitespace))
    })
}

#[cfg(test)]
mod tests;
