//! Permission rules: `allow|deny EPORT[-EPORT] IP[/MASK] IPORT[-IPORT] [regex]`.
//!
//! The syntax is miniupnpd's (`miniupnpd.conf` and the `-A` flag): an
//! action, an external port range, an internal address with an optional mask
//! (`/bits` or a dotted mask such as `/255.255.255.0`; no mask means `/32`),
//! an internal port range and an optional regular expression matched
//! (unanchored, like POSIX `regexec`) against the mapping's description. The
//! regular expression may be wrapped in double quotes.
//!
//! Evaluation: the rules are tried in file order and the **first rule that
//! matches decides**. When **no rule matches, the request is allowed** —
//! miniupnpd's behaviour; admins close the list with
//! `deny 0-65535 0.0.0.0/0 0-65535` to make it an allow-list. The same
//! [`RuleSet`] binds UPnP IGD, NAT-PMP and PCP requests alike.

use std::fmt;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

/// Longest regular expression accepted in a rule, in bytes: descriptions are
/// short, a longer pattern is a mistake, and this bounds compile cost.
pub const RULE_REGEX_MAX: usize = 256;

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The mapping may be created.
    Allow,
    /// The mapping is refused.
    Deny,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        })
    }
}

/// An inclusive port range `start-end` (a single port is `start == end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port of the range.
    pub start: u16,
    /// Last port of the range (inclusive, `>= start`).
    pub end: u16,
}

impl PortRange {
    /// The range `start..=end`; `None` when `start > end`.
    pub fn new(start: u16, end: u16) -> Option<Self> {
        (start <= end).then_some(PortRange { start, end })
    }

    /// Whether `port` lies in the range.
    pub fn contains(&self, port: u16) -> bool {
        self.start <= port && port <= self.end
    }

    fn parse(s: &str) -> Result<Self, RuleError> {
        let (a, b) = match s.split_once('-') {
            Some((a, b)) => (a, b),
            None => (s, s),
        };
        let start = parse_port(a)?;
        let end = parse_port(b)?;
        PortRange::new(start, end).ok_or_else(|| RuleError::BadPortRange(s.to_owned()))
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

fn parse_port(s: &str) -> Result<u16, RuleError> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RuleError::BadPort(s.to_owned()));
    }
    s.parse::<u16>()
        .map_err(|_| RuleError::BadPort(s.to_owned()))
}

/// Why a permission rule could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The first word is neither `allow` nor `deny`.
    #[error("rule must start with 'allow' or 'deny', not '{0}'")]
    BadAction(String),
    /// Fewer than the four mandatory fields.
    #[error("rule needs 'allow|deny EPORT[-EPORT] IP[/MASK] IPORT[-IPORT]'")]
    MissingField,
    /// A port is not a decimal number in 0..=65535.
    #[error("bad port '{0}'")]
    BadPort(String),
    /// A port range has its start after its end.
    #[error("bad port range '{0}' (start after end)")]
    BadPortRange(String),
    /// The address is not a dotted IPv4 address.
    #[error("bad IPv4 address '{0}' (hostnames are not allowed)")]
    BadAddress(String),
    /// The mask is neither `/0`..`/32` nor a dotted mask.
    #[error("bad mask '{0}'")]
    BadMask(String),
    /// The description pattern does not compile, or is too long.
    #[error("bad description regex: {0}")]
    BadRegex(String),
}

/// A compiled description filter; equality compares the source text.
#[derive(Clone)]
pub struct DescFilter {
    source: String,
    regex: regex_lite::Regex,
}

impl DescFilter {
    /// Compile `source` (at most [`RULE_REGEX_MAX`] bytes).
    pub fn new(source: &str) -> Result<Self, RuleError> {
        if source.len() > RULE_REGEX_MAX {
            return Err(RuleError::BadRegex(format!(
                "longer than {RULE_REGEX_MAX} bytes"
            )));
        }
        let regex = regex_lite::RegexBuilder::new(source)
            .nest_limit(32)
            .build()
            .map_err(|e| RuleError::BadRegex(e.to_string()))?;
        Ok(DescFilter {
            source: source.to_owned(),
            regex,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern occurs anywhere in `desc`.
    pub fn is_match(&self, desc: &str) -> bool {
        self.regex.is_match(desc)
    }
}

impl fmt::Debug for DescFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DescFilter").field(&self.source).finish()
    }
}

impl PartialEq for DescFilter {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}
impl Eq for DescFilter {}

/// One permission rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Allow or deny.
    pub action: Action,
    /// External ports the rule covers.
    pub external_ports: PortRange,
    /// Internal address as written (host bits may be set).
    pub address: Ipv4Addr,
    /// Mask applied to both the rule address and the client address.
    pub mask: Ipv4Addr,
    /// Internal ports the rule covers.
    pub internal_ports: PortRange,
    /// Optional filter on the mapping description.
    pub description: Option<DescFilter>,
}

impl Rule {
    /// Parse one rule line (without a trailing newline).
    pub fn parse(line: &str) -> Result<Self, RuleError> {
        let line = line.trim();
        let mut rest = line;
        let mut next = || -> Option<&str> {
            let t = rest.trim_start();
            if t.is_empty() {
                return None;
            }
            let end = t.find(char::is_whitespace).unwrap_or(t.len());
            let (word, tail) = t.split_at(end);
            rest = tail;
            Some(word)
        };
        let action = match next() {
            Some("allow") => Action::Allow,
            Some("deny") => Action::Deny,
            Some(other) => return Err(RuleError::BadAction(other.to_owned())),
            None => return Err(RuleError::MissingField),
        };
        let external_ports = PortRange::parse(next().ok_or(RuleError::MissingField)?)?;
        let addr_mask = next().ok_or(RuleError::MissingField)?;
        let internal_ports = PortRange::parse(next().ok_or(RuleError::MissingField)?)?;
        let (address, mask) = parse_addr_mask(addr_mask)?;
        let tail = rest.trim();
        let description = if tail.is_empty() {
            None
        } else {
            let pattern = match tail.strip_prefix('"') {
                Some(inner) => inner
                    .strip_suffix('"')
                    .ok_or_else(|| RuleError::BadRegex("unterminated quote".to_owned()))?,
                None => tail,
            };
            Some(DescFilter::new(pattern)?)
        };
        Ok(Rule {
            action,
            external_ports,
            address,
            mask,
            internal_ports,
            description,
        })
    }

    /// Whether this rule applies to a request (all fields must match).
    pub fn matches(&self, eport: u16, client: Ipv4Addr, iport: u16, desc: &str) -> bool {
        self.external_ports.contains(eport) && self.matches_client(client, iport, desc)
    }

    /// Whether the rule applies to this client, internal port and description,
    /// whatever the external port.
    fn matches_client(&self, client: Ipv4Addr, iport: u16, desc: &str) -> bool {
        let m = u32::from(self.mask);
        (u32::from(client) & m) == (u32::from(self.address) & m)
            && self.internal_ports.contains(iport)
            && self.description.as_ref().map_or(true, |d| d.is_match(desc))
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.action, self.external_ports, self.address
        )?;
        let m = u32::from(self.mask);
        if m.leading_ones() + m.trailing_zeros() == 32 {
            write!(f, "/{}", m.leading_ones())?;
        } else {
            write!(f, "/{}", self.mask)?;
        }
        write!(f, " {}", self.internal_ports)?;
        if let Some(d) = &self.description {
            write!(f, " \"{}\"", d.as_str())?;
        }
        Ok(())
    }
}

fn parse_addr_mask(s: &str) -> Result<(Ipv4Addr, Ipv4Addr), RuleError> {
    let (addr, mask) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    let address: Ipv4Addr = addr
        .parse()
        .map_err(|_| RuleError::BadAddress(addr.to_owned()))?;
    let mask = match mask {
        None => Ipv4Addr::BROADCAST,
        Some(m) if m.contains('.') => m.parse().map_err(|_| RuleError::BadMask(m.to_owned()))?,
        Some(m) => {
            if m.is_empty() || m.len() > 2 || !m.bytes().all(|b| b.is_ascii_digit()) {
                return Err(RuleError::BadMask(m.to_owned()));
            }
            let bits: u32 = m.parse().map_err(|_| RuleError::BadMask(m.to_owned()))?;
            if bits > 32 {
                return Err(RuleError::BadMask(m.to_owned()));
            }
            Ipv4Addr::from(u32::MAX.checked_shl(32 - bits).unwrap_or(0))
        }
    };
    Ok((address, mask))
}

/// An ordered list of rules; first match wins, default allow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// An empty rule set (allows everything).
    pub fn new() -> Self {
        RuleSet::default()
    }

    /// Append a rule at the end (lowest precedence).
    pub fn push(&mut self, rule: Rule) {
        self.rules.push(rule);
    }

    /// The rules in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether the set has no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Decide a request: the first matching rule's action, or
    /// [`Action::Allow`] when none matches.
    pub fn check(&self, eport: u16, client: Ipv4Addr, iport: u16, desc: &str) -> Action {
        let decision = self
            .rules
            .iter()
            .find(|r| r.matches(eport, client, iport, desc))
            .map_or(Action::Allow, |r| r.action);
        tracing::trace!(eport, %client, iport, ?decision, "permission check");
        decision
    }

    /// Shorthand for `check(..) == Action::Allow`.
    pub fn is_allowed(&self, eport: u16, client: Ipv4Addr, iport: u16, desc: &str) -> bool {
        self.check(eport, client, iport, desc) == Action::Allow
    }

    /// The external ports this client may map to `iport` with `desc`, as
    /// sorted, disjoint, non-adjacent inclusive ranges within `1..=65535`
    /// (port 0 is never mappable). Computed in O(rules²) without looking at
    /// individual ports, so a port search can skip denied stretches at once.
    pub fn allowed_external_ports(
        &self,
        client: Ipv4Addr,
        iport: u16,
        desc: &str,
    ) -> Vec<RangeInclusive<u16>> {
        // `undecided` holds the ports no earlier applicable rule has claimed.
        let mut undecided: Vec<RangeInclusive<u16>> = vec![1..=u16::MAX];
        let mut allowed: Vec<RangeInclusive<u16>> = Vec::new();
        for rule in self
            .rules
            .iter()
            .filter(|r| r.matches_client(client, iport, desc))
        {
            let (lo, hi) = (rule.external_ports.start, rule.external_ports.end);
            let mut still = Vec::with_capacity(undecided.len() + 1);
            for r in undecided {
                let (a, b) = (*r.start(), *r.end());
                if b < lo || a > hi {
                    still.push(a..=b);
                    continue;
                }
                let (ca, cb) = (a.max(lo), b.min(hi));
                if rule.action == Action::Allow {
                    allowed.push(ca..=cb);
                }
                if a < ca {
                    still.push(a..=ca - 1);
                }
                if cb < b {
                    still.push(cb + 1..=b);
                }
            }
            undecided = still;
            if undecided.is_empty() {
                break;
            }
        }
        allowed.extend(undecided);
        merge_ranges(allowed)
    }
}

fn merge_ranges(mut v: Vec<RangeInclusive<u16>>) -> Vec<RangeInclusive<u16>> {
    v.sort_by_key(|r| *r.start());
    let mut out: Vec<RangeInclusive<u16>> = Vec::with_capacity(v.len());
    for r in v {
        match out.last_mut() {
            Some(last) if u32::from(*r.start()) <= u32::from(*last.end()) + 1 => {
                if r.end() > last.end() {
                    *last = *last.start()..=*r.end();
                }
            }
            _ => out.push(r),
        }
    }
    out
}

impl FromIterator<Rule> for RuleSet {
    fn from_iter<T: IntoIterator<Item = Rule>>(iter: T) -> Self {
        RuleSet {
            rules: iter.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    fn set(lines: &[&str]) -> RuleSet {
        lines
            .iter()
            .map(|l| Rule::parse(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    }

    #[test]
    fn parses_the_sample_rules() {
        let r = Rule::parse("allow 1024-65535 192.168.0.0/24 1024-65535").unwrap();
        assert_eq!(r.action, Action::Allow);
        assert_eq!(
            r.external_ports,
            PortRange {
                start: 1024,
                end: 65535
            }
        );
        assert_eq!(r.address, ip("192.168.0.0"));
        assert_eq!(r.mask, ip("255.255.255.0"));
        assert_eq!(
            r.internal_ports,
            PortRange {
                start: 1024,
                end: 65535
            }
        );
        assert!(r.description.is_none());

        let r = Rule::parse("allow 12345 192.168.7.113/32 54321").unwrap();
        assert_eq!(
            r.external_ports,
            PortRange {
                start: 12345,
                end: 12345
            }
        );
        assert_eq!(
            r.internal_ports,
            PortRange {
                start: 54321,
                end: 54321
            }
        );

        let r = Rule::parse("deny 0-65535 0.0.0.0/0 0-65535").unwrap();
        assert_eq!(r.mask, Ipv4Addr::UNSPECIFIED);
    }

    #[test]
    fn dotted_mask_no_mask_and_regex() {
        let r = Rule::parse("deny 1-2 10.0.0.0/255.0.0.0 3").unwrap();
        assert_eq!(r.mask, ip("255.0.0.0"));
        assert_eq!(r.to_string(), "deny 1-2 10.0.0.0/8 3");
        let r = Rule::parse("allow 80 10.0.0.5 80").unwrap();
        assert_eq!(r.mask, Ipv4Addr::BROADCAST);
        let r = Rule::parse(
            "deny 1024-65535 192.168.1.0/24 1024-65535 \"My evil app ver [[:digit:]]*\"",
        )
        .unwrap();
        let d = r.description.as_ref().unwrap();
        assert_eq!(d.as_str(), "My evil app ver [[:digit:]]*");
        assert!(d.is_match("xx My evil app ver 3"));
        assert!(!d.is_match("good app"));
        let r = Rule::parse("deny 1 1.2.3.4 1 ^torrent").unwrap();
        assert_eq!(r.description.unwrap().as_str(), "^torrent");
    }

    #[test]
    fn bad_rules_are_typed() {
        let cases: &[(&str, RuleError)] = &[
            ("permit 1 1.2.3.4 1", RuleError::BadAction("permit".into())),
            ("allow 1 1.2.3.4", RuleError::MissingField),
            ("allow", RuleError::MissingField),
            ("allow 65536 1.2.3.4 1", RuleError::BadPort("65536".into())),
            ("allow -1 1.2.3.4 1", RuleError::BadPort("".into())),
            ("allow 80abc 1.2.3.4 1", RuleError::BadPort("80abc".into())),
            ("allow 9-3 1.2.3.4 1", RuleError::BadPortRange("9-3".into())),
            (
                "allow 1 router.lan 1",
                RuleError::BadAddress("router.lan".into()),
            ),
            ("allow 1 1.2.3.4/33 1", RuleError::BadMask("33".into())),
            ("allow 1 1.2.3.4/ 1", RuleError::BadMask("".into())),
            (
                "allow 1 1.2.3.4/255.0.0 1",
                RuleError::BadMask("255.0.0".into()),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(&Rule::parse(line).unwrap_err(), want, "{line}");
        }
        assert!(matches!(
            Rule::parse("allow 1 1.2.3.4 1 \"open(").unwrap_err(),
            RuleError::BadRegex(_)
        ));
        assert!(matches!(
            Rule::parse("allow 1 1.2.3.4 1 (").unwrap_err(),
            RuleError::BadRegex(_)
        ));
        let long = format!("allow 1 1.2.3.4 1 {}", "a".repeat(RULE_REGEX_MAX + 1));
        assert!(matches!(
            Rule::parse(&long).unwrap_err(),
            RuleError::BadRegex(_)
        ));
    }

    #[test]
    fn first_match_wins_and_default_is_allow() {
        let rules = set(&[
            "allow 1024-65535 192.168.0.0/24 1024-65535",
            "allow 12345 192.168.7.113/32 54321",
            "deny 0-65535 0.0.0.0/0 0-65535",
        ]);
        assert!(rules.is_allowed(5000, ip("192.168.0.7"), 5000, ""));
        assert!(!rules.is_allowed(80, ip("192.168.0.7"), 5000, ""));
        assert!(!rules.is_allowed(5000, ip("192.168.0.7"), 80, ""));
        assert!(rules.is_allowed(12345, ip("192.168.7.113"), 54321, ""));
        assert!(!rules.is_allowed(12345, ip("192.168.7.114"), 54321, ""));
        assert!(!rules.is_allowed(5000, ip("10.0.0.1"), 5000, ""));

        let empty = RuleSet::new();
        assert_eq!(empty.check(1, ip("10.0.0.1"), 1, ""), Action::Allow);
        let only_deny_some = set(&["deny 1-1023 0.0.0.0/0 0-65535"]);
        assert!(only_deny_some.is_allowed(1024, ip("10.0.0.1"), 1, ""));
        assert!(!only_deny_some.is_allowed(1023, ip("10.0.0.1"), 1, ""));
    }

    #[test]
    fn regex_rule_only_matches_its_descriptions() {
        let rules = set(&[
            "deny 0-65535 0.0.0.0/0 0-65535 \"evil\"",
            "allow 0-65535 0.0.0.0/0 0-65535",
        ]);
        assert!(!rules.is_allowed(4000, ip("10.0.0.2"), 4000, "an evil app"));
        assert!(rules.is_allowed(4000, ip("10.0.0.2"), 4000, "a good app"));
    }

    #[test]
    fn allowed_ranges_follow_first_match() {
        let rules = set(&[
            "deny 5000-5010 10.0.0.0/8 0-65535",
            "allow 1024-65535 10.0.0.0/8 0-65535",
            "deny 0-65535 0.0.0.0/0 0-65535",
        ]);
        assert_eq!(
            rules.allowed_external_ports(ip("10.1.2.3"), 80, ""),
            vec![1024..=4999, 5011..=65535]
        );
        assert_eq!(
            rules.allowed_external_ports(ip("192.168.1.1"), 80, ""),
            vec![]
        );
        assert_eq!(
            RuleSet::new().allowed_external_ports(ip("1.2.3.4"), 1, ""),
            vec![1..=65535]
        );
    }

    proptest! {
        #[test]
        fn display_parses_back(
            allow in any::<bool>(), a in any::<u16>(), b in any::<u16>(),
            c in any::<u16>(), d in any::<u16>(), addr in any::<u32>(), bits in 0u32..=32,
            re in proptest::option::of("[a-z ]{1,12}"),
        ) {
            let mask = Ipv4Addr::from(u32::MAX.checked_shl(32 - bits).unwrap_or(0));
            let rule = Rule {
                action: if allow { Action::Allow } else { Action::Deny },
                external_ports: PortRange { start: a.min(b), end: a.max(b) },
                address: Ipv4Addr::from(addr),
                mask,
                internal_ports: PortRange { start: c.min(d), end: c.max(d) },
                description: re.map(|r| DescFilter::new(r.trim()).unwrap()),
            };
            prop_assert_eq!(Rule::parse(&rule.to_string()).unwrap(), rule);
        }

        #[test]
        fn allowed_ranges_agree_with_check(
            raw in proptest::collection::vec((any::<bool>(), any::<u16>(), any::<u16>()), 0..6),
            probe in proptest::collection::vec(any::<u16>(), 1..40),
        ) {
            let rules: RuleSet = raw.iter().map(|&(allow, a, b)| Rule {
                action: if allow { Action::Allow } else { Action::Deny },
                external_ports: PortRange { start: a.min(b), end: a.max(b) },
                address: Ipv4Addr::UNSPECIFIED,
                mask: Ipv4Addr::UNSPECIFIED,
                internal_ports: PortRange { start: 0, end: u16::MAX },
                description: None,
            }).collect();
            let ranges = rules.allowed_external_ports(ip("10.0.0.1"), 1, "");
            for w in ranges.windows(2) {
                prop_assert!(u32::from(*w[0].end()) + 1 < u32::from(*w[1].start()));
            }
            for p in probe.into_iter().filter(|&p| p != 0) {
                let in_ranges = ranges.iter().any(|r| r.contains(&p));
                prop_assert_eq!(in_ranges, rules.is_allowed(p, ip("10.0.0.1"), 1, ""));
            }
        }
    }
}
