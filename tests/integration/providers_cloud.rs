//! What only the cloud providers' backends do, against their fakes (`fakes/`): Route 53's
//! atomic change batches and change status, its SigV4 signatures checked against AWS's
//! published test vector. The shared suites (`providers.rs`) run against them too.

use daneroll_providers::settings::{HostedSettings, ProviderSettings, build_backend_with};
use daneroll_providers::{DnsBackend, Outcome, TlsaRrset};

use crate::contract::{ee, ta};
use crate::fakes::{self, Fake};
use crate::providers::quick_retries;
use crate::util::Dir;

const ZONES: [&str; 3] = ["alpha.test", "example.com", "mail.example.com"];
const OWNER: &str = "_25._tcp.mx.mail.example.com.";

fn route53(fake: &Fake, dir: &Dir) -> Box<dyn DnsBackend> {
    let settings = ProviderSettings::Route53(HostedSettings {
        api_url: Some(fake.url()),
        token_file: Some(fake.token_file(dir)),
        token_env: None,
        zone: None,
    });
    build_backend_with("route53", &settings, quick_retries()).unwrap()
}

/// The fake's SigV4 check is AWS's: it reproduces the "get-vanilla" vector of AWS's test suite.
#[test]
fn the_route53_fake_signs_like_aws() {
    let string_to_sign = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63";
    let signature = fakes::route53::signature_of(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "20150830",
        "us-east-1",
        "service",
        string_to_sign,
    );
    let hex: String = signature.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
}

#[tokio::test]
async fn route53_replaces_the_set_in_one_batch_and_waits_for_insync() {
    let (fake, dir) = (fakes::route53::start(&ZONES), Dir::new());
    let backend = route53(&fake, &dir);
    fake.publish_other(OWNER, &ta(9), 600);
    assert_eq!(
        backend.add(OWNER, &ee(1), 300).await.unwrap(),
        Outcome::Changed
    );
    // One change batch (DELETE the set as read + CREATE it with ours), then GetChange polled
    // past PENDING.
    let log = fake.requests();
    let posts: Vec<_> = log.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(posts.len(), 1, "{log:?}");
    assert!(
        log.iter().any(|r| r.path.starts_with("/change/")),
        "{log:?}"
    );
    assert_eq!(fakes::route53::polls(&fake), [2], "PENDING, then INSYNC");
    // The existing set kept its TTL.
    let rrset = backend.read(OWNER).await.unwrap();
    assert_eq!(rrset.ttl(), Some(600));
    assert!(rrset.same_records(&TlsaRrset::new(vec![ee(1), ta(9)], None)));
}

#[tokio::test]
async fn route53_a_writer_between_our_read_and_write_is_not_overwritten() {
    let (fake, dir) = (fakes::route53::start(&ZONES), Dir::new());
    let backend = route53(&fake, &dir);
    fake.publish_other(OWNER, &ta(9), 600);
    let other = |byte| {
        let value = fakes::canonical(&ta(byte));
        move |store: &mut fakes::Store| store.add(OWNER, &value, 600)
    };
    // Someone adds a record after our read, before our batch arrives: our DELETE no longer
    // matches, Route 53 refuses the whole batch, and we redo it on the set as it is now.
    fake.before_next_write(other(7));
    assert_eq!(
        backend.add(OWNER, &ee(1), 300).await.unwrap(),
        Outcome::Changed
    );
    let mut values = fake.values(OWNER);
    values.sort();
    let mut expected = [ee(1), ta(7), ta(9)].map(|r| fakes::canonical(&r));
    expected.sort();
    assert_eq!(values, expected);
    let refused = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.status == 400)
        .count();
    assert_eq!(refused, 1, "the first batch lost the race");

    // A compare-and-swap that meets the same race changes nothing and reports a stale view.
    let seen = backend.read(OWNER).await.unwrap();
    fake.before_next_write(other(5));
    let err = backend
        .remove_if_unchanged(OWNER, &ee(1), &seen)
        .await
        .unwrap_err();
    assert!(err.is_stale(), "{err}");
    assert_eq!(fake.values(OWNER).len(), 4, "nothing removed");
}

fn google(fake: &Fake, dir: &Dir) -> Box<dyn DnsBackend> {
    let settings = ProviderSettings::Google(HostedSettings {
        api_url: Some(fake.url()),
        token_file: Some(fake.token_file(dir)),
        token_env: None,
        zone: None,
    });
    build_backend_with("google", &settings, quick_retries()).unwrap()
}

#[tokio::test]
async fn google_gets_one_access_token_and_waits_for_done_changes() {
    let (fake, dir) = (fakes::google::start(&ZONES), Dir::new());
    let backend = google(&fake, &dir);
    fake.publish_other(OWNER, &ta(9), 600);
    assert_eq!(
        backend.add(OWNER, &ee(1), 300).await.unwrap(),
        Outcome::Changed
    );
    assert_eq!(
        backend.remove(OWNER, &ta(9)).await.unwrap(),
        Outcome::Changed
    );
    let log = fake.requests();
    // One signed JWT exchanged for a token that then serves every call.
    assert_eq!(
        log.iter().filter(|r| r.path == "/token").count(),
        1,
        "{log:?}"
    );
    assert_eq!(fakes::google::issued(&fake).len(), 1);
    // Each change polled from `pending` to `done`.
    let polls = log.iter().filter(|r| r.path.contains("/changes/")).count();
    assert_eq!(polls, 4, "{log:?}");
    let rrset = backend.read(OWNER).await.unwrap();
    assert_eq!(rrset.ttl(), Some(600), "the set keeps its TTL");
    assert!(rrset.same_records(&TlsaRrset::new(vec![ee(1)], None)));

    // A deletion that no longer matches (someone changed the set) is refused whole: redone.
    let other = fakes::canonical(&ta(7));
    fake.before_next_write(move |store| store.add(OWNER, &other, 600));
    assert_eq!(
        backend.add(OWNER, &ee(2), 300).await.unwrap(),
        Outcome::Changed
    );
    assert_eq!(fake.values(OWNER).len(), 3);
    assert!(fake.requests().iter().any(|r| r.status == 412));
}

#[test]
fn google_config_check_names_a_file_that_is_not_a_service_account_key() {
    let dir = Dir::new();
    let path = dir.write(
        "gcp.json",
        "{\"type\": \"authorized_user\", \"client_secret\": \"s3cr3t-9f\"}",
    );
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let settings = ProviderSettings::Google(HostedSettings {
        api_url: None,
        token_file: Some(path),
        token_env: None,
        zone: None,
    });
    let err = settings.check("gcp").unwrap_err().to_string();
    assert!(
        err.contains("[dns.gcp]") && err.contains("gcp.json") && err.contains("service_account"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t-9f"), "{err}");
    let err = build_backend_with("gcp", &settings, quick_retries())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("service account key") && !err.contains("s3cr3t-9f"),
        "{err}"
    );
}

#[tokio::test]
async fn azure_writes_only_with_the_etag_it_read() {
    let (fake, dir) = (fakes::azure::start(&ZONES), Dir::new());
    let settings = ProviderSettings::Azure(HostedSettings {
        api_url: Some(fake.url()),
        token_file: Some(fake.token_file(&dir)),
        token_env: None,
        zone: None,
    });
    let backend = build_backend_with("azure", &settings, quick_retries()).unwrap();
    assert_eq!(
        backend.add(OWNER, &ee(1), 300).await.unwrap(),
        Outcome::Changed
    );
    // Someone changes the set between our read and our PUT: the ETag no longer matches, Azure
    // answers 412, and the change is redone on their set.
    let other = fakes::canonical(&ta(7));
    fake.before_next_write(move |store| store.add(OWNER, &other, 300));
    assert_eq!(
        backend.add(OWNER, &ee(2), 300).await.unwrap(),
        Outcome::Changed
    );
    assert_eq!(fake.values(OWNER).len(), 3);
    let log = fake.requests();
    assert!(log.iter().any(|r| r.status == 412), "{log:?}");
    let puts: Vec<_> = log.iter().filter(|r| r.method == "PUT").collect();
    assert!(
        puts.iter().all(|r| r
            .headers
            .iter()
            .any(|(n, _)| n == "if-match" || n == "if-none-match")),
        "{puts:?}"
    );
    // Removing the last records deletes the set, again only with its ETag.
    for record in [ee(1), ee(2), ta(7)] {
        assert_eq!(
            backend.remove(OWNER, &record).await.unwrap(),
            Outcome::Changed
        );
    }
    assert!(fake.values(OWNER).is_empty());
    let delete = fake
        .requests()
        .into_iter()
        .rfind(|r| r.method == "DELETE")
        .unwrap();
    assert!(
        delete.headers.iter().any(|(n, _)| n == "if-match"),
        "{delete:?}"
    );
    // One access token for all of it.
    assert_eq!(fakes::azure::issued(&fake).len(), 1);
}
