//! The lab checks itself: the tree validates as designed, and the secondary can be made silent
//! or stale. Other tests rely on exactly these properties.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use super::Lab;

#[test]
fn lab_tree_validates_as_designed() {
    let lab = Lab::shared();
    for zone in [&lab.mx, &lab.corp, &lab.knot, &lab.tld] {
        let answer = lab.query(lab.resolver, &zone.name, RecordType::SOA);
        assert!(
            answer.metadata.authentic_data,
            "{} must validate: {answer:?}",
            zone.name
        );
    }
    let mx = lab.query(lab.resolver, "corp.example.", RecordType::MX);
    assert!(
        mx.metadata.authentic_data && !mx.answers.is_empty(),
        "{mx:?}"
    );

    let bogus = lab.query(lab.resolver, &lab.bogus.host, RecordType::A);
    assert_eq!(
        bogus.metadata.response_code,
        ResponseCode::ServFail,
        "{bogus:?}"
    );
    for zone in [&lab.insecure, &lab.nods] {
        let answer = lab.query(lab.resolver, &zone.host, RecordType::A);
        assert_eq!(
            answer.metadata.response_code,
            ResponseCode::NoError,
            "{answer:?}"
        );
        assert!(
            !answer.metadata.authentic_data,
            "{} must be insecure",
            zone.name
        );
        assert!(!answer.answers.is_empty());
    }
    // Every authoritative address of mx.example. answers for it, signed.
    for server in lab.mx.servers() {
        let answer = lab.query(server, "mx.example.", RecordType::DNSKEY);
        assert!(answer.metadata.authoritative, "{server}: {answer:?}");
        assert!(
            answer
                .answers
                .iter()
                .any(|r| r.record_type() == RecordType::RRSIG)
        );
    }
    let anchor = std::fs::read_to_string(&lab.trust_anchor).unwrap();
    assert!(anchor.starts_with(". IN DS "), "{anchor}");
}

#[test]
fn lab_secondary_goes_silent_or_stale_on_demand() {
    let lab = Lab::start();
    let owner = lab.mx.tlsa_owner(25);
    let primary = lab.mx.primary();
    let secondary = lab.mx.secondary_addrs[0];
    let record = format!("3 1 1 {}", "AB".repeat(32));

    lab.block_transfers();
    let old = lab.serial(secondary, "mx.example.");
    lab.nsupdate(
        &lab.keys.mx,
        &lab.mx,
        &format!("update add {owner} 5 TLSA {record}"),
    )
    .unwrap();
    assert_eq!(lab.dig_short(primary, &owner, "TLSA").len(), 1);
    // Transfers are refused: NOTIFY arrives, the secondary stays at the old serial.
    assert_eq!(lab.serial(secondary, "mx.example."), old);
    assert!(lab.dig_short(secondary, &owner, "TLSA").is_empty());

    lab.allow_transfers();
    lab.wait_secondary_synced();
    assert_eq!(lab.dig_short(secondary, &owner, "TLSA").len(), 1);

    lab.pause_secondary();
    let silent = super::net::query(secondary, "mx.example.", RecordType::SOA, false);
    assert!(
        silent.is_err(),
        "a stopped server must not answer: {silent:?}"
    );
    lab.resume_secondary();
    assert!(lab.serial(secondary, "mx.example.").is_some());
}

#[test]
fn ipv6_addresses_stay_in_the_labs_block() {
    let lab = Lab::shared();
    let inside = lab.addr6(0x7001);
    let resolver_octet = match lab.resolver {
        std::net::SocketAddr::V4(v4) => v4.ip().octets()[1],
        std::net::SocketAddr::V6(_) => unreachable!("the lab resolver listens on IPv4"),
    };
    assert_eq!(
        inside.segments()[..4],
        [0xfd64, 0x6e72, 0x6c00, u16::from(resolver_octet)]
    );
    let foreign: std::net::IpAddr = "fd64:6e72:6c00:ffff::1".parse().unwrap();
    let error = lab.add_any(&[foreign]).unwrap_err();
    assert!(error.contains("outside the lab block"), "{error}");
    lab.add_any(&[inside.into()]).unwrap();
    let shown = std::process::Command::new("ip")
        .args(["-6", "addr", "show", "dev", "lo"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&shown.stdout).contains(&inside.to_string()));
}
