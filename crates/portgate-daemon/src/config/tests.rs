use super::*;
use proptest::prelude::*;

const SAMPLE: &str = include_str!("../../tests/fixtures/miniupnpd.conf");

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "miniupnpd.conf")
}

fn err_text(text: &str) -> String {
    match parse(text) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn defaults() {
    let c = parse("").unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.http_port, 5000);
    assert_eq!(c.min_lifetime, 120);
    assert_eq!(c.max_lifetime, 86_400);
    assert_eq!(c.notify_interval, 900);
    assert!(c.secure_mode);
    assert!(c.enable_upnp);
    assert!(!c.enable_natpmp);
    assert_eq!(c.ext_stun_port, 3478);
    assert_eq!(c.clean_ruleset_threshold, 20);
    // As Debian's and OpenWrt's miniupnpd (built with IGD:2) without force_igd_desc_v1.
    assert_eq!(c.description_igd_version(), IgdVersion::V2);
    assert_eq!(
        parse("force_igd_desc_v1=yes\n")
            .unwrap()
            .description_igd_version(),
        IgdVersion::V1
    );
    assert_eq!(
        parse("igd_version=1\n").unwrap().description_igd_version(),
        IgdVersion::V1
    );
}

#[test]
fn sample_file_as_shipped() {
    let c = parse(SAMPLE).unwrap();
    assert_eq!(c.ext_ifname.as_deref(), Some("eth1"));
    assert_eq!(
        c.listening_ip,
        vec![ListenSpec::Address {
            addr: Ipv4Addr::new(192, 168, 0, 1),
            prefix: Some(24)
        }]
    );
    assert!(!c.secure_mode);
    assert!(c.system_uptime);
    assert_eq!(c.notify_interval, 60);
    assert_eq!(c.clean_ruleset_interval, 600);
    assert_eq!(c.uuid.map(|u| u.0), Some([0; 16]));
    assert_eq!(c.rules.rules().len(), 5);
    assert!(c.warnings.is_empty());
    let client = Ipv4Addr::new(192, 168, 7, 113);
    assert!(c.rules.is_allowed(12345, client, 54321, ""));
    assert!(!c.rules.is_allowed(12346, client, 54321, ""));
}

/// Every commented-out `#key=value` (and `# allow/deny`) line of the sample
/// is a key we recognise with a value we accept.
#[test]
fn sample_file_with_everything_uncommented() {
    let mut uncommented = 0;
    let text: String = SAMPLE
        .lines()
        .map(|l| {
            let body = l.strip_prefix('#').unwrap_or(l);
            let is_kv = l.starts_with('#')
                && body.split_once('=').is_some_and(|(k, _)| {
                    !k.is_empty()
                        && k.bytes()
                            .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
                });
            let is_rule = l.starts_with("# allow ") || l.starts_with("# deny ");
            if is_kv || is_rule {
                uncommented += 1;
                format!("{}\n", body.trim())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert!(uncommented > 40, "only {uncommented} lines uncommented");
    let c = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.ext_ifname.as_deref(), Some("xl1"));
    assert_eq!(c.ext_ifname6.as_deref(), Some("eth2"));
    assert_eq!(c.ext_ip, None);
    assert!(c.ext_perform_stun);
    assert_eq!(c.ext_stun_host.as_deref(), Some("stun.example.net"));
    assert_eq!(c.listening_ip.len(), 3);
    assert_eq!(c.listening_ip[2], ListenSpec::Interface("eth0".into()));
    assert_eq!(c.http_port, 0);
    assert_eq!(c.https_port, Some(0));
    assert!(c.ipv6_disable);
    assert!(c.enable_natpmp);
    assert!(!c.enable_upnp);
    assert_eq!(c.upnp_table_name, None);
    assert_eq!(
        c.upnp_nat_postrouting_chain.as_deref(),
        Some("UPnP-Postrouting")
    );
    assert_eq!(c.lease_file, Some(PathBuf::from("/var/log/upnp.leases")));
    assert_eq!(c.friendly_name, "MiniUPnPd router");
    assert_eq!(c.bitrate_down, Some(10_000_000));
    assert!(!c.secure_mode, "the later secure_mode=no wins");
    assert_eq!(
        c.presentation_url.as_deref(),
        Some("http://www.mylan/index.php")
    );
    assert_eq!(c.notify_interval, 60);
    assert_eq!(c.clean_ruleset_threshold, 10);
    assert_eq!(c.serial, "12345678");
    assert_eq!(c.rules.rules().len(), 6);
    // https_port plus the five pf keys are accepted with a warning.
    assert_eq!(c.warnings.len(), 6, "{:?}", c.warnings);
    assert!(c.warnings[0].to_string().starts_with("miniupnpd.conf:"));
}

#[test]
fn spaces_around_equals_and_hash_inside_values() {
    let c = parse("  friendly_name  =  My # router  \n\tport= 80\n").unwrap();
    assert_eq!(c.friendly_name, "My # router");
    assert_eq!(c.http_port, 80);
}

#[test]
fn synonyms() {
    let c = parse("port=1\nhttp_port=2\nenable_pcp_pmp=yes\n").unwrap();
    assert_eq!(c.http_port, 2);
    assert!(c.enable_natpmp);
    let c = parse("enable_natpmp=on\n").unwrap();
    assert!(c.enable_natpmp);
}

#[test]
fn our_keys() {
    let c = parse(
        "igd_version=2\nmax_mappings_per_client=10\nfirewall_standalone=no\n\
         keep_table_on_exit=yes\nhttp_max_connections=5\nlist_max_entries=50\n",
    )
    .unwrap();
    assert_eq!(c.igd_version, IgdVersion::V2);
    assert_eq!(c.description_igd_version(), IgdVersion::V2);
    assert_eq!(c.max_mappings_per_client, 10);
    assert!(!c.firewall_standalone);
    assert!(c.keep_table_on_exit);
    assert_eq!(c.http_max_connections, 5);
    assert_eq!(c.list_max_entries, 50);
    let c = parse("igd_version=2\nforce_igd_desc_v1=yes\n").unwrap();
    assert_eq!(c.description_igd_version(), IgdVersion::V1);
}

#[test]
fn errors_name_file_line_and_reason() {
    assert_eq!(
        err_text("# c\n\nsecure_mode=yes\nfoo=1\n"),
        "miniupnpd.conf:4: unknown key 'foo'"
    );
    assert_eq!(
        err_text("secure_mode=maybe\n"),
        "miniupnpd.conf:1: bad value 'maybe' for 'secure_mode': expected yes or no"
    );
    assert_eq!(
        err_text("ext_ifname\n"),
        "miniupnpd.conf:1: expected key=value, a rule or a comment"
    );
    assert!(err_text("allow 1 1.2.3.4\n").starts_with("miniupnpd.conf:1: bad rule:"));
    assert!(err_text("allow_x=1\n").contains("unknown key 'allow_x'"));
    assert!(err_text("min_lifetime=500\nmax_lifetime=100\n")
        .starts_with("miniupnpd.conf:2: min_lifetime (500) is above max_lifetime (100)"));
    assert!(err_text(&format!("friendly_name={}\n", "x".repeat(2000))).contains("line longer"));
}

#[test]
fn bad_values() {
    for line in [
        "port=65536",
        "port=-1",
        "port=80abc",
        "ext_stun_port=0",
        "ext_ip=example.com",
        "ext_ip=1.2.3",
        "ipv6_listening_ip=1.2.3.4",
        "listening_ip=",
        "listening_ip=192.168.0.1/33",
        "listening_ip=192.168.0.1/255.0.255.0",
        "listening_ip=192.168.0.256",
        "listening_ip=averyveryverylongifname",
        "ext_ifname=a/b",
        "notify_interval=0",
        "min_lifetime=0",
        "min_lifetime=1e3",
        "uuid=not-a-uuid",
        "uuid=00000000-0000-0000-0000-00000000000g",
        "upnp_table_name=bad name",
        "upnp_forward_chain=-x",
        "igd_version=3",
        "bitrate_up=fast",
        "max_mappings_per_client=0",
        "friendly_name=a\u{7}b",
    ] {
        let e = parse(&format!("{line}\n")).expect_err(line);
        assert!(
            matches!(e, ConfigError::Line { line: 1, .. }),
            "{line}: {e}"
        );
    }
}

/// Distribution scripts write keys with empty values: OpenWrt's init writes
/// `ext_ifname6=` when there is no wan6, Debian's package ships `uuid=` until its
/// postinst fills it in. miniupnpd reads an empty value of these keys as "not set"
/// (or as its default: `yes`-only booleans, `atoi("")`, set_rdr_name refusing ""), so
/// they are the default here; the few it refuses stay refused.
#[test]
fn empty_values_are_unset_where_miniupnpd_reads_them_so() {
    for key in [
        "ext_ifname",
        "ext_ifname6",
        "ext_ip",
        "ext_allow_private_ipv4",
        "ext_perform_stun",
        "ext_stun_host",
        "ext_stun_port",
        "ipv6_listening_ip",
        "ipv6_disable",
        "port",
        "http_port",
        "https_port",
        "bitrate_up",
        "bitrate_down",
        "enable_natpmp",
        "enable_pcp_pmp",
        "min_lifetime",
        "pcp_allow_thirdparty",
        "secure_mode",
        "system_uptime",
        "notify_interval",
        "clean_ruleset_interval",
        "clean_ruleset_threshold",
        "uuid",
        "lease_file",
        "lease_file6",
        "minissdpdsocket",
        "upnp_table_name",
        "upnp_nat_table_name",
        "upnp_forward_chain",
        "upnp_nat_chain",
        "upnp_nat_postrouting_chain",
        "upnp_nftables_family_split",
    ] {
        let c = parse(&format!("{key}=\n")).unwrap_or_else(|e| panic!("{key}=: {e}"));
        assert_eq!(c, Config::default(), "{key}=");
        let c = parse(&format!("  {key} =  \n")).unwrap_or_else(|e| panic!("{key} = : {e}"));
        assert_eq!(c, Config::default(), "{key} = ");
    }
    // An empty line after a set one unsets it again, as in miniupnpd (last wins).
    let c = parse(
        "ext_ifname6=wan6\nuuid=01234567-89ab-cdef-0123-456789abcdef\n\
                   ext_ifname6=\nuuid=\nnotify_interval=60\nnotify_interval=\n",
    )
    .unwrap();
    assert_eq!(
        (c.ext_ifname6, c.uuid, c.notify_interval),
        (None, None, 900)
    );
    // miniupnpd refuses these empty (no LAN; min_lifetime 120 >= max_lifetime 0;
    // "force_igd_desc_v1 can only be yes or no"), or reads `enable_upnp=` as "no",
    // against a default of yes: refused here rather than guessed.
    for key in [
        "listening_ip",
        "max_lifetime",
        "force_igd_desc_v1",
        "enable_upnp",
    ] {
        let e = parse(&format!("{key}=\n")).expect_err(key);
        assert!(
            e.to_string().contains(&format!("bad value '' for '{key}'")),
            "{e}"
        );
    }
}

#[test]
fn random_uuids_are_version_4_and_differ() {
    let (a, b) = (Uuid::random(), Uuid::random());
    assert_ne!(a, b);
    for u in [a, b] {
        let text = u.to_string();
        assert_eq!(text.parse::<Uuid>(), Ok(u));
        assert_eq!(text.as_bytes()[14], b'4', "{text}");
        assert!(
            matches!(text.as_bytes()[19], b'8' | b'9' | b'a' | b'b'),
            "{text}"
        );
    }
}

#[test]
fn listen_specs() {
    let c =
        parse("listening_ip=br0 wlan0\nlistening_ip=10.0.0.1\nlistening_ip=10.0.0.1/255.255.0.0\n")
            .unwrap();
    assert_eq!(
        c.listening_ip,
        vec![
            ListenSpec::Interface("br0".into()),
            ListenSpec::Interface("wlan0".into()),
            ListenSpec::Address {
                addr: Ipv4Addr::new(10, 0, 0, 1),
                prefix: None
            },
            ListenSpec::Address {
                addr: Ipv4Addr::new(10, 0, 0, 1),
                prefix: Some(16)
            },
        ]
    );
}

#[test]
fn uuid_forms() {
    let u: Uuid = "0123ABCD-89ab-cdef-0123-456789abcdef".parse().unwrap();
    assert_eq!(u.to_string(), "0123abcd-89ab-cdef-0123-456789abcdef");
    assert!("0123abcd89abcdef0123456789abcdef".parse::<Uuid>().is_err());
    assert!("0123abcd-89ab-cdef-0123-456789abcde\u{e9}"
        .parse::<Uuid>()
        .is_err());
}

#[test]
fn effective_text_of_sample_parses_back() {
    let c = parse(SAMPLE).unwrap();
    let text = c.effective_text();
    assert!(text.contains("\nsecure_mode=no\n"));
    assert!(text.contains("\n#ext_ip=\n"));
    assert!(text.contains("\ndeny 0-65535 0.0.0.0/0 0-65535\n"));
    assert_eq!(parse(&text).unwrap(), c);
}

#[test]
fn load_reads_a_file_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.conf");
    std::fs::write(&p, "port=1\nbogus=2\n").unwrap();
    let e = Config::load(&p).unwrap_err().to_string();
    assert!(e.ends_with("x.conf:2: unknown key 'bogus'"), "{e}");
    let missing = Config::load(&dir.path().join("none")).unwrap_err();
    assert!(matches!(missing, ConfigError::Io { .. }));
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,10}"
}

proptest! {
    #[test]
    fn effective_text_round_trips(
        ifname in proptest::option::of(name()),
        ext_ip in proptest::option::of(any::<u32>()),
        bools in proptest::array::uniform8(any::<bool>()),
        port in any::<u16>(),
        stun_port in 1u16..,
        lifetimes in (1u32..100_000, 0u32..100_000),
        notify in 1u32..=86_400,
        friendly in "[A-Za-z0-9 #=:/.-]{0,40}",
        uuid in proptest::option::of(any::<[u8; 16]>()),
        table in proptest::option::of(name()),
        listen in proptest::collection::vec((any::<u32>(), proptest::option::of(0u8..=32)), 0..3),
        rules in proptest::collection::vec((any::<bool>(), any::<u16>(), any::<u32>(), 0u32..=32), 0..4),
        bitrate in proptest::option::of(any::<u64>()),
    ) {
        let mut c = Config {
            ext_ifname: ifname,
            ext_ip: ext_ip.map(Ipv4Addr::from),
            ext_allow_private_ipv4: bools[0],
            ext_perform_stun: bools[1],
            ipv6_disable: bools[2],
            enable_natpmp: bools[3],
            secure_mode: bools[4],
            firewall_standalone: bools[5],
            upnp_nftables_family_split: bools[6],
            igd_version: if bools[7] { IgdVersion::V2 } else { IgdVersion::V1 },
            http_port: port,
            ext_stun_port: stun_port,
            min_lifetime: lifetimes.0,
            max_lifetime: lifetimes.0 + lifetimes.1,
            notify_interval: notify,
            friendly_name: friendly.trim().to_owned(),
            uuid: uuid.map(Uuid),
            upnp_table_name: table,
            listening_ip: listen
                .into_iter()
                .map(|(a, p)| ListenSpec::Address { addr: Ipv4Addr::from(a), prefix: p })
                .collect(),
            bitrate_up: bitrate,
            ..Config::default()
        };
        for (allow, p, a, bits) in rules {
            let line = format!(
                "{} {p} {}/{bits} 1-65535",
                if allow { "allow" } else { "deny" },
                Ipv4Addr::from(a)
            );
            c.rules.push(Rule::parse(&line).unwrap());
        }
        let back = parse(&c.effective_text()).unwrap();
        prop_assert_eq!(back, c);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "(?s).{0,400}") {
        let _ = parse(&text);
    }
}
