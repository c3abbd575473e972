//! Content forgeries by one authoritative server of a signed zone (issue #12, item 4), each
//! through daneroll's real observer and wait loop (what `records wait` runs) against the lab's
//! BIND and unbound, with the [`crate::hostile`] proxy at one NS address tampering with BIND's
//! genuine answers: the RRSIG stripped, an RRSIG made with another zone's key, a replayed
//! signature that has expired or is not valid yet (made with the zone's real key, as a recorded
//! old signature would be), an extra CH-class record carrying a hash, and the NSEC of a
//! wildcard replayed at the TLSA name as a proof of absence.
//!
//! In every case the other NS address is BIND itself. daneroll must never count the hostile
//! address as serving (or as proving absence), must name it with what was wrong (not call its
//! tampered answer "stale"), and the wait must not end safe.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use daneroll::dns::Transport;
use daneroll::dns::observation::{Expected, ServerVerdict};
use daneroll::dns::transport::Question;
use daneroll::dns::wait::{WaitOutcome, WaitSettings, wait_until_safe};
use daneroll_providers::Tlsa;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, RRSIG};
use hickory_proto::dnssec::{Algorithm, PublicKeyBuf, TBS};
use hickory_proto::op::Message;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};

use crate::hostile::{Rules, Tamper};
use crate::hostile_transport::{FastClock, HostileZone, observer, runtime, transport};
use crate::lab::Lab;
use crate::lab::extra::{ExtraZoneSpec, NsHost};
use crate::rollover::{Backend, Mta, Setup};
use crate::util::Dir;

fn record(byte: u8) -> Tlsa {
    Tlsa::new(3, 1, 1, vec![byte; 32])
}

fn rdata(tlsa: &Tlsa) -> RData {
    RData::TLSA(hickory_proto::rr::rdata::TLSA::new(
        tlsa.usage.into(),
        tlsa.selector.into(),
        tlsa.mtype.into(),
        tlsa.data.clone(),
    ))
}

/// A signed zone `LABEL.example.` holding `ours` at `_25._tcp.mail` and a wildcard TXT, with
/// BIND at `127.N.X.1` (NS `ns1`) and the hostile proxy at `127.N.X.2` (NS `ns2`).
fn content_zone(lab: &Lab, label: &str, x: u8, ours: &Tlsa) -> HostileZone {
    zone_with(lab, label, x, &ours.to_string(), false)
}

/// The same, holding `TLSA {record}` (text after the type) and, with `updates`, letting the
/// lab's `keys.mx` change TLSA records.
fn zone_with(lab: &Lab, label: &str, x: u8, record: &str, updates: bool) -> HostileZone {
    let bind = lab.addr(x, 1).into();
    let proxy = lab.addr(x, 2).into();
    let spare = lab.addr(x, 3).into();
    lab.add_any(&[proxy, spare]).unwrap();
    let hostile = crate::hostile::Hostile::start(
        std::net::SocketAddr::new(proxy, 53),
        std::net::SocketAddr::new(bind, 53),
    )
    .unwrap();
    let name = format!("{label}.example.");
    let owner = format!("_25._tcp.mail.{name}");
    let zone = lab
        .add_zone(ExtraZoneSpec {
            name: name.clone(),
            rsa_bits: None,
            listen: vec![bind],
            ns: vec![NsHost::new("ns1", &[bind]), NsHost::new("ns2", &[proxy])],
            records: format!(
                "mail A {}\n{owner} TLSA {record}\n* TXT \"wildcard\"\n",
                lab.addr(x, 25)
            ),
            tlsa_updates: updates,
        })
        .unwrap_or_else(|e| panic!("zone {name}: {e}"));
    HostileZone {
        zone,
        hostile,
        spare,
        owner,
    }
}

/// The verdicts of one poll: (BIND's, the hostile address's), for `expected`.
async fn poll(lab: &Lab, hz: &HostileZone, expected: &Expected) -> (ServerVerdict, ServerVerdict) {
    let transport = transport();
    let observer = observer(lab, &transport, &hz.owner).await;
    let observations = observer.poll(&FastClock::new()).await;
    let of = |addr| {
        observations
            .iter()
            .find(|o| o.server.addr == addr)
            .unwrap_or_else(|| panic!("{addr} was not polled: {observations:?}"))
            .verdict(expected)
    };
    (of(hz.zone.primary()), of(hz.hostile.addr))
}

/// Waits (a virtual minute, many TTLs) and returns the hostile address's verdict at the end;
/// asserts the wait did not end safe and named the hostile address as a laggard.
async fn wait(lab: &Lab, hz: &HostileZone, expected: &Expected) -> String {
    let transport = transport();
    let observer = observer(lab, &transport, &hz.owner).await;
    let settings = WaitSettings {
        interval: Duration::from_secs(2),
        timeout: Some(Duration::from_secs(60)),
        ..WaitSettings::default()
    };
    let outcome = wait_until_safe(&observer, expected, &settings, &FastClock::new(), |_| {})
        .await
        .unwrap();
    let WaitOutcome::TimedOut { laggards, .. } = outcome else {
        panic!(
            "the change must not be safe while {} forges answers: {outcome:?}",
            hz.hostile.addr
        );
    };
    let (server, verdict) = laggards
        .iter()
        .find(|(server, _)| server.addr == hz.hostile.addr)
        .unwrap_or_else(|| panic!("{} must be a laggard: {laggards:?}", hz.hostile.addr));
    assert_ne!(*verdict, ServerVerdict::Serving);
    format!("{server}: {verdict}")
}

fn bogus_because(verdict: &ServerVerdict, why: &str) {
    assert!(
        matches!(verdict, ServerVerdict::Bogus(text) if text.contains(why)),
        "expected bogus ({why}), got {verdict}"
    );
}

/// Adds `next` to the TLSA RRset of a reply (same owner, TTL and class as the genuine one).
fn add_to_rrset(reply: &mut Message, next: &Tlsa) {
    if let Some(genuine) = reply
        .answers
        .iter()
        .find(|r| r.record_type() == RecordType::TLSA)
        .cloned()
    {
        let mut extra = genuine;
        extra.data = rdata(next);
        reply.answers.push(extra);
    }
}

fn strip_rrsigs(reply: &mut Message) {
    reply
        .answers
        .retain(|r| r.record_type() != RecordType::RRSIG);
}

/// Something that makes DNSSEC signatures (raw r‖s for ECDSA P-256, RFC 6605 §4).
type Sign = Arc<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;

/// Replaces the RRSIG over the reply's TLSA RRset with one made by `sign` as key `key_tag`
/// for `signer`, valid from `inception` to `expiration`.
fn resign(
    reply: &mut Message,
    sign: &Sign,
    key_tag: u16,
    signer: &Name,
    inception: SystemTime,
    expiration: SystemTime,
) {
    let Some(genuine) = reply.answers.iter().find_map(|r| match &r.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.input().clone()),
        _ => None,
    }) else {
        return;
    };
    strip_rrsigs(reply);
    let rrset: Vec<Record> = reply
        .answers
        .iter()
        .filter(|r| r.record_type() == RecordType::TLSA)
        .cloned()
        .collect();
    let stamp = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs() as u32;
    let mut input = genuine;
    input.key_tag = key_tag;
    input.signer_name = signer.clone();
    input.sig_inception = SerialNumber::new(stamp(inception));
    input.sig_expiration = SerialNumber::new(stamp(expiration));
    let owner = rrset[0].name.clone();
    let tbs = TBS::from_input(&owner, DNSClass::IN, &input, rrset.iter()).unwrap();
    let signature = sign(tbs.as_ref());
    reply.answers.push(Record::from_rdata(
        owner,
        rrset[0].ttl,
        RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, signature))),
    ));
}

/// The zone's real CSK, read from BIND's key directory: what signed the genuine answers, and
/// what made any signature an attacker may have recorded earlier. Returns it and its tag.
fn zone_key(lab: &Lab, zone: &str) -> (Sign, u16) {
    let dir = lab.dir.join(format!("zone-{}", zone.trim_end_matches('.')));
    let private = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "private"))
        .unwrap_or_else(|| panic!("no .private key in {}", dir.display()));
    let field = |path: &Path, prefix: &str| -> String {
        let text = std::fs::read_to_string(path).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("{prefix} in {}", path.display()))
            .trim()
            .to_string()
    };
    let scalar = data_encoding::BASE64
        .decode(field(&private, "PrivateKey:").as_bytes())
        .unwrap();
    let public_file = private.with_extension("key");
    let text = std::fs::read_to_string(&public_file).unwrap();
    let line = text.lines().find(|l| l.contains("DNSKEY")).unwrap();
    let key_b64: String = line
        .split_whitespace()
        .skip_while(|t| *t != "DNSKEY")
        .skip(4)
        .collect();
    let mut point = vec![4u8];
    point.extend(data_encoding::BASE64.decode(key_b64.as_bytes()).unwrap());
    let tag: u16 = private
        .file_name()
        .unwrap()
        .to_string_lossy()
        .rsplit('+')
        .next()
        .unwrap()
        .trim_end_matches(".private")
        .parse()
        .unwrap();
    let pair = EcdsaKeyPair::from_private_key_and_public_key(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &scalar,
        &point,
    )
    .unwrap();
    let sign: Sign = Arc::new(move |data: &[u8]| {
        pair.sign(&SystemRandom::new(), data)
            .unwrap()
            .as_ref()
            .to_vec()
    });
    (sign, tag)
}

/// A key of the attacker's own (an ECDSA P-256 key of another zone) and its tag.
fn another_zones_key() -> (Sign, u16) {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = pair.public_key().as_ref()[1..].to_vec();
    let public = PublicKeyBuf::new(point, Algorithm::ECDSAP256SHA256);
    let tag = DNSKEY::with_flags(257, public).calculate_key_tag().unwrap();
    let sign: Sign = Arc::new(move |data: &[u8]| {
        pair.sign(&SystemRandom::new(), data)
            .unwrap()
            .as_ref()
            .to_vec()
    });
    (sign, tag)
}

#[test]
fn a_stripped_rrsig_is_named_and_never_counts() {
    let lab = Lab::shared();
    let (ours, next) = (record(0xc1), record(0xd1));
    let hz = content_zone(lab, "hostile-stripped", 60, &ours);
    runtime().block_on(async {
        // The genuine RRset, its RRSIG stripped: a tampered answer, not a stale server.
        hz.hostile
            .set(Rules::both(Tamper::Modify(Arc::new(strip_rrsigs))).only(RecordType::TLSA));
        let waiting = Expected {
            record: next.clone(),
            present: true,
        };
        let (bind, hostile) = poll(lab, &hz, &waiting).await;
        assert_eq!(bind, ServerVerdict::Stale);
        bogus_because(&hostile, "carries no RRSIG");
        // The change itself, unsigned: never served.
        let forged = next.clone();
        hz.hostile.set(
            Rules::both(Tamper::Modify(Arc::new(move |reply: &mut Message| {
                add_to_rrset(reply, &forged);
                strip_rrsigs(reply);
            })))
            .only(RecordType::TLSA),
        );
        let verdict = wait(lab, &hz, &waiting).await;
        assert!(verdict.contains(&hz.hostile.addr.to_string()), "{verdict}");
        assert!(verdict.contains("carries no RRSIG"), "{verdict}");
    });
}

#[test]
fn an_rrsig_made_with_another_zones_key_is_refused() {
    let lab = Lab::shared();
    let (ours, next) = (record(0xc2), record(0xd2));
    let hz = content_zone(lab, "hostile-otherkey", 61, &ours);
    let zone = Name::from_ascii(&hz.zone.name).unwrap();
    let (sign, tag) = another_zones_key();
    let now = SystemTime::now();
    let (from, until) = (
        now - Duration::from_secs(3600),
        now + Duration::from_secs(86400),
    );
    runtime().block_on(async {
        let waiting = Expected {
            record: next.clone(),
            present: true,
        };
        // The change, signed in the zone's name with the attacker's key.
        let (forged, key, signer) = (next.clone(), Arc::clone(&sign), zone.clone());
        hz.hostile.set(
            Rules::both(Tamper::Modify(Arc::new(move |reply: &mut Message| {
                add_to_rrset(reply, &forged);
                resign(reply, &key, tag, &signer, from, until);
            })))
            .only(RecordType::TLSA),
        );
        let verdict = wait(lab, &hz, &waiting).await;
        assert!(verdict.contains(&hz.hostile.addr.to_string()), "{verdict}");
        assert!(
            verdict.contains("not in the validated DNSKEY RRset"),
            "{verdict}"
        );
        // Signed as the attacker's own zone: the wrong signer, named as such.
        let (forged, key) = (next.clone(), Arc::clone(&sign));
        let attacker = Name::from_ascii("attacker.example.").unwrap();
        hz.hostile.set(
            Rules::both(Tamper::Modify(Arc::new(move |reply: &mut Message| {
                add_to_rrset(reply, &forged);
                resign(reply, &key, tag, &attacker, from, until);
            })))
            .only(RecordType::TLSA),
        );
        let (_, hostile) = poll(lab, &hz, &waiting).await;
        bogus_because(&hostile, "signed by attacker.example.");
        // The old RRset re-signed with that key is no evidence of the old state either.
        let (key, signer) = (Arc::clone(&sign), zone.clone());
        hz.hostile.set(
            Rules::both(Tamper::Modify(Arc::new(move |reply: &mut Message| {
                resign(reply, &key, tag, &signer, from, until);
            })))
            .only(RecordType::TLSA),
        );
        let (bind, hostile) = poll(lab, &hz, &waiting).await;
        assert_eq!(bind, ServerVerdict::Stale);
        bogus_because(&hostile, "not in the validated DNSKEY RRset");
    });
}

#[test]
fn expired_and_not_yet_valid_rrsigs_are_refused() {
    let lab = Lab::shared();
    let (ours, next) = (record(0xc3), record(0xd3));
    let hz = content_zone(lab, "hostile-expired", 62, &ours);
    let zone = Name::from_ascii(&hz.zone.name).unwrap();
    let (sign, tag) = zone_key(lab, &hz.zone.name);
    let now = SystemTime::now();
    let day = Duration::from_secs(86400);
    let cases = [
        // A signature recorded when `next` was published weeks ago, expired yesterday.
        ("expired", now - 30 * day, now - day, "expired at"),
        // A signature made for the future (a compromised signer, or a clock set ahead).
        (
            "not yet valid",
            now + day,
            now + 30 * day,
            "is not valid before",
        ),
    ];
    runtime().block_on(async {
        let waiting = Expected {
            record: next.clone(),
            present: true,
        };
        for (what, from, until, why) in cases {
            let (forged, key, signer) = (next.clone(), Arc::clone(&sign), zone.clone());
            hz.hostile.set(
                Rules::both(Tamper::Modify(Arc::new(move |reply: &mut Message| {
                    add_to_rrset(reply, &forged);
                    resign(reply, &key, tag, &signer, from, until);
                })))
                .only(RecordType::TLSA),
            );
            let verdict = wait(lab, &hz, &waiting).await;
            assert!(
                verdict.contains(&hz.hostile.addr.to_string()),
                "{what}: {verdict}"
            );
            assert!(verdict.contains(why), "{what}: {verdict}");
            // The genuine old RRset under such a signature: tampered, not stale.
            let (key, signer) = (Arc::clone(&sign), zone.clone());
            hz.hostile.set(
                Rules::both(Tamper::Modify(Arc::new(move |reply: &mut Message| {
                    resign(reply, &key, tag, &signer, from, until);
                })))
                .only(RecordType::TLSA),
            );
            let (bind, hostile) = poll(lab, &hz, &waiting).await;
            assert_eq!(bind, ServerVerdict::Stale, "{what}");
            bogus_because(&hostile, why);
        }
    });
}

#[test]
fn an_extra_ch_class_record_carrying_a_hash_is_not_served() {
    // Found on the old main: the presence check read TLSA records of every class, so this
    // server counted as serving the next key while only its genuine RRset was signed.
    let lab = Lab::shared();
    let (ours, next) = (record(0xc4), record(0xd4));
    let hz = content_zone(lab, "hostile-chaos", 63, &ours);
    let forged = next.clone();
    hz.hostile.set(
        Rules::both(Tamper::Modify(Arc::new(move |reply: &mut Message| {
            let Some(owner) = reply.queries.first().map(|q| q.name().clone()) else {
                return;
            };
            let mut extra = Record::from_rdata(owner, 5, rdata(&forged));
            extra.dns_class = DNSClass::CH;
            reply.answers.push(extra);
        })))
        .only(RecordType::TLSA),
    );
    runtime().block_on(async {
        let waiting = Expected {
            record: next.clone(),
            present: true,
        };
        let verdict = wait(lab, &hz, &waiting).await;
        assert!(verdict.contains(&hz.hostile.addr.to_string()), "{verdict}");
        assert!(verdict.contains("class CH"), "{verdict}");
        // The genuine record beside it does not make the answer trustworthy either.
        let (bind, hostile) = poll(
            lab,
            &hz,
            &Expected {
                record: ours.clone(),
                present: true,
            },
        )
        .await;
        assert_eq!(bind, ServerVerdict::Serving);
        bogus_because(&hostile, "class CH");
    });
}

#[test]
fn a_wildcards_nsec_replayed_at_the_tlsa_name_is_not_absence() {
    // Found on the old main: the NSEC at `*.ZONE` (its bitmap has TXT, not TLSA), renamed to
    // the TLSA name, verified as a wildcard expansion and "proved" that the record was gone.
    let lab = Lab::shared();
    let ours = record(0xc5);
    let hz = content_zone(lab, "hostile-wildnsec", 64, &ours);
    let owner = Name::from_ascii(&hz.owner).unwrap();
    runtime().block_on(async {
        let transport = transport();
        let wildcard = Name::from_ascii(format!("*.{}", hz.zone.name)).unwrap();
        let genuine = transport
            .query(
                hz.zone.primary(),
                Question::authoritative(wildcard.clone(), RecordType::NSEC),
            )
            .await
            .unwrap();
        let replayed: Vec<Record> = genuine
            .answers
            .iter()
            .filter(|r| r.name == wildcard)
            .map(|r| {
                let mut copy = r.clone();
                copy.name = owner.clone();
                copy
            })
            .collect();
        assert_eq!(replayed.len(), 2, "the wildcard's NSEC and its RRSIG: {genuine:?}");
        hz.hostile.set(
            Rules::both(Tamper::Modify(Arc::new(move |reply: &mut Message| {
                reply.answers.clear();
                reply
                    .authorities
                    .retain(|r| r.record_type() == RecordType::SOA || matches!(&r.data, RData::DNSSEC(DNSSECRData::RRSIG(s)) if s.input().type_covered == RecordType::SOA));
                reply.authorities.extend(replayed.iter().cloned());
            })))
            .only(RecordType::TLSA),
        );
        let retired = Expected {
            record: ours.clone(),
            present: false,
        };
        let (bind, hostile) = poll(lab, &hz, &retired).await;
        assert_eq!(bind, ServerVerdict::Stale, "BIND still serves the record");
        bogus_because(&hostile, "made for a wildcard");
        let verdict = wait(lab, &hz, &retired).await;
        assert!(verdict.contains(&hz.hostile.addr.to_string()), "{verdict}");
        assert!(verdict.contains("replayed"), "{verdict}");
    });
}

#[test]
fn the_engine_does_not_advance_on_a_ch_class_copy_of_the_next_record() {
    // Found on the old main: the hostile address replayed the TLSA RRset it served before the
    // next key's record was published (genuinely signed) plus a CH-class copy of that record,
    // and the engine counted it as serving: the rollover reached `ready` on forged evidence.
    let lab = Lab::shared();
    let dir = Dir::new();
    let (label, x) = ("hostile-content-engine", 65);
    let host = format!("mail.{label}.example");
    let mta = Mta::files(&dir, &host);
    let bind = std::net::SocketAddr::new(lab.addr(x, 1).into(), 53);
    let backend = Backend {
        name: "lab",
        table: format!(
            "type = \"rfc2136\"\nserver = \"{bind}\"\ntsig_key_file = \"{}\"\n",
            lab.keys.mx.bind_file.display()
        ),
    };
    let setup = Setup::configure(lab, dir, &host, mta, &backend);
    let hz = zone_with(lab, label, x, &format!("3 1 1 {}", setup.deployed()), true);
    assert_eq!(hz.owner, setup.owner());
    let first: Arc<Mutex<Option<Vec<Record>>>> = Arc::default();
    let seen = Arc::clone(&first);
    hz.hostile.set(
        Rules::both(Tamper::Modify(Arc::new(move |reply: &mut Message| {
            // invariant: the lock is held only inside this closure.
            let mut first = seen.lock().expect("first answer");
            let old = first.get_or_insert_with(|| reply.answers.clone()).clone();
            let new: Vec<Record> = reply
                .answers
                .iter()
                .filter(|r| r.record_type() == RecordType::TLSA && !old.contains(r))
                .map(|r| {
                    let mut copy = r.clone();
                    copy.dns_class = DNSClass::CH;
                    copy
                })
                .collect();
            reply.answers = old;
            reply.answers.extend(new);
        })))
        .only(RecordType::TLSA),
    );
    // Ticks for 20 s: the next record's safe time would be 2 × 5 s after it is served.
    let start = Instant::now();
    let mut said = String::new();
    while start.elapsed() < Duration::from_secs(20) {
        let run = setup.run(&["tick"]);
        assert!(
            matches!(run.status, Some(0)),
            "tick: {}\n{}",
            run.stdout,
            run.stderr
        );
        said.push_str(&run.stdout);
        assert_ne!(
            setup.stage(),
            "ready",
            "the engine advanced on forged evidence:\n{said}\n{}",
            setup.history()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // `status` names the server; the history says it answered bogus (the observer's verdict,
    // with the reason, is what `records show`/`records wait` print).
    let hostile = hz.hostile.addr.to_string();
    let status = setup.run(&["status"]);
    assert!(
        status
            .stdout
            .contains(&format!("not yet on ns2.{label}.example ({hostile})")),
        "{}",
        status.stdout
    );
    let history = setup.history();
    assert!(
        history
            .lines()
            .any(|l| l.contains(&hostile) && l.contains(r#""answer":"bogus""#)),
        "the history must say what {hostile} answered:\n{history}"
    );
    drop(said);
    // Once that server tells the truth, the same rollover goes on.
    hz.hostile.set(Rules::pass_through());
    setup.tick_until_ready();
}
