use super::*;

const EXAMPLE: &str = r#"
[dns.primary]                 # a named DNS backend
type = "rfc2136"
server = "192.0.2.53:53"      # optional; default: SOA MNAME
tsig_key_file = "/etc/daneroll/tsig.key"

[validation]
trust_anchor_file = "/usr/share/dns/root.ds"
resolver = "127.0.0.1"

[[host]]
name = "Mail.Example.com."
dns = "primary"
mail_domains = ["example.com"]

[[host]]
name = "mx2.example.com"
ports = [25, 465]
dns = "primary"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/daneroll/daneroll.toml"))
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn parses_the_documented_example() {
    let config = parse(EXAMPLE).unwrap();
    assert_eq!(
        config.dns["primary"],
        DnsBackend::Rfc2136 {
            server: Some("192.0.2.53:53".parse().unwrap()),
            tsig_key_file: PathBuf::from("/etc/daneroll/tsig.key"),
        }
    );
    assert_eq!(
        config.validation.resolver,
        Some("127.0.0.1:53".parse().unwrap())
    );
    assert_eq!(config.policy.safety_factor.value(), 2.0);
    let host = config.host("mail.example.com").unwrap();
    assert_eq!(host.ports, vec![25]);
    assert_eq!(host.mail_domains, vec!["example.com".to_string()]);
    assert_eq!(
        config.host("MX2.example.com.").unwrap().ports,
        vec![25, 465]
    );
}

#[test]
fn unknown_keys_name_the_key_and_line() {
    let err = error("[validation]\nresolver = \"::1\"\ntrust_anchor = \"/x\"\n");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("trust_anchor"), "{err}");
    let err = error(
        "[dns.p]\ntype = \"rfc2136\"\ntsig_key_file = \"/k\"\ntsig_secret = \"c2VjcmV0IQ==\"\n",
    );
    assert!(
        err.contains("line 4") && err.contains("tsig_secret"),
        "{err}"
    );
    assert!(
        !err.contains("c2VjcmV0"),
        "a value must never be echoed: {err}"
    );
}

#[test]
fn wrong_types_name_the_key_and_hide_the_value() {
    let err = error("[[host]]\nname = \"mail.example.com\"\nports = \"c2VjcmV0\"\ndns = \"p\"\n");
    assert!(err.contains("line 3, ports"), "{err}");
    assert!(!err.contains("c2VjcmV0"), "{err}");
    let err = error("[dns.p]\ntype = \"powerdns\"\ntsig_key_file = \"/k\"\n");
    assert!(err.contains("powerdns") || err.contains("type"), "{err}");
    assert!(err.contains("line "), "{err}");
}

#[test]
fn semantic_errors_point_at_the_line() {
    let err = error("[[host]]\nname = \"mail.example.com\"\ndns = \"nowhere\"\n");
    assert!(
        err.contains("line 3, host.dns: no [dns.nowhere] section (defined: none)"),
        "{err}"
    );
    let base = "[dns.p]\ntype = \"rfc2136\"\ntsig_key_file = \"/k\"\n";
    let err = error(&format!(
        "{base}[[host]]\nname = \"mail.example.com\"\nports = []\ndns = \"p\"\n"
    ));
    assert!(err.contains("line 6, host.ports"), "{err}");
    let err = error(&format!(
        "{base}[[host]]\nname = \"a.example\"\ndns = \"p\"\n[[host]]\nname = \"A.example.\"\ndns = \"p\"\n"
    ));
    assert!(
        err.contains("line 8, host.name: a.example is configured twice"),
        "{err}"
    );
    let err = error("[validation]\nsafety_factor = 1\n");
    assert!(err.contains("line 2, validation.safety_factor"), "{err}");
    let err = error("[validation]\nresolver = \"dns.example\"\n");
    assert!(err.contains("line 2, validation.resolver"), "{err}");
}

#[test]
fn a_missing_default_file_gives_defaults_but_an_explicit_one_is_an_error() {
    let missing = Path::new("/nonexistent/daneroll.toml");
    let config = Config::load_or_default(missing, false).unwrap();
    assert!(config.hosts.is_empty());
    let err = Config::load_or_default(missing, true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/daneroll.toml"), "{err}");
}

#[test]
fn servers_take_an_optional_port() {
    assert_eq!(
        parse_server("192.0.2.1"),
        Some("192.0.2.1:53".parse().unwrap())
    );
    assert_eq!(
        parse_server("[::1]:5353"),
        Some("[::1]:5353".parse().unwrap())
    );
    assert_eq!(parse_server("::1"), Some("[::1]:53".parse().unwrap()));
    assert_eq!(parse_server("ns.example"), None);
}

#[test]
fn other_names_share_the_host_s_key_and_are_checked() {
    let text = "[dns.p]\ntype = \"rfc2136\"\ntsig_key_file = \"/k\"\n\n[[host]]\nname = \"mx1.example.com\"\nother_names = [\"MX2.example.com.\"]\ndns = \"p\"\n";
    let config = parse(text).unwrap();
    let host = config.host("mx1.example.com").unwrap();
    assert_eq!(host.other_names, ["mx2.example.com"]);
    assert_eq!(
        host.names().collect::<Vec<_>>(),
        ["mx1.example.com", "mx2.example.com"]
    );
    let twice = text.replace("\"MX2.example.com.\"", "\"mx1.example.com\"");
    let err = error(&twice);
    assert!(
        err.contains("host.other_names") && err.contains("listed twice"),
        "{err}"
    );
    let bad = text.replace("\"MX2.example.com.\"", "\"not a name\"");
    assert!(error(&bad).contains("not a domain name"), "{}", error(&bad));
    let taken = format!(
        "{text}\n[[host]]\nname = \"mx3.example.com\"\nother_names = [\"mx2.example.com\"]\ndns = \"p\"\n"
    );
    let err = error(&taken);
    assert!(err.contains("already belongs to another [[host]]"), "{err}");
}

/// #13: a Unicode host name (U-labels) is accepted and used in its A-label form.
#[test]
fn unicode_host_names_are_used_as_a_labels() {
    let text = EXAMPLE
        .replace("Mail.Example.com.", "MX.Bücher.example")
        .replace("[\"example.com\"]", "[\"bücher.example\"]");
    let config = parse(&text).unwrap();
    let host = config.host("mx.xn--bcher-kva.example").unwrap();
    assert_eq!(host.name, "mx.xn--bcher-kva.example");
    assert_eq!(host.mail_domains, vec!["xn--bcher-kva.example".to_string()]);
    assert!(config.host("mx.bücher.example").is_some());
}
