use hickory_proto::op::ResponseCode;
use hickory_proto::rr::DNSClass;
use hickory_proto::rr::RecordType::{DNSKEY, DS, NS, SOA};

use super::*;
use crate::dns::testing::{
    FakeNet, TestZone, addr, in_class, name, nsec_record, reply, soa_record,
};
use crate::dns::trust_anchor::TrustAnchors;

const RESOLVER: &str = "127.0.9.1:53";

/// A resolver that knows a signed root, `test.`, and whatever children a test adds.
struct Tree {
    net: FakeNet,
    root: TestZone,
    tld: TestZone,
}

impl Tree {
    fn new() -> Self {
        let tree = Self {
            net: FakeNet::new(),
            root: TestZone::new("."),
            tld: TestZone::new("test."),
        };
        tree.serve_zone(&tree.root);
        tree.serve_zone(&tree.tld);
        tree.delegate_signed(&tree.root, &tree.tld);
        tree
    }

    fn resolver() -> std::net::SocketAddr {
        addr(RESOLVER)
    }

    fn serve_zone(&self, zone: &TestZone) {
        let soa = zone.signed(vec![soa_record(zone.apex(), 3600, 1, 300)]);
        self.net.answer(
            Self::resolver(),
            zone.apex(),
            SOA,
            reply(ResponseCode::NoError, false, soa, vec![]),
        );
        self.net.answer(
            Self::resolver(),
            zone.apex(),
            DNSKEY,
            reply(ResponseCode::NoError, false, zone.dnskey_answer(), vec![]),
        );
    }

    fn delegate_signed(&self, parent: &TestZone, child: &TestZone) {
        let ds = parent.signed(vec![child.ds_record(3600)]);
        self.net.answer(
            Self::resolver(),
            child.apex(),
            DS,
            reply(ResponseCode::NoError, false, ds, vec![]),
        );
    }

    fn delegate_without_ds(&self, parent: &TestZone, child: &Name) {
        let proof = parent.signed(vec![nsec_record(child, &name("zzz.test."), &[NS], 300)]);
        let soa = parent.signed(vec![soa_record(parent.apex(), 3600, 1, 300)]);
        let mut authority = soa;
        authority.extend(proof);
        self.net.answer(
            Self::resolver(),
            child,
            DS,
            reply(ResponseCode::NoError, false, vec![], authority),
        );
    }

    fn anchors(&self) -> TrustAnchors {
        let key = self.root.ksk().to_string();
        TrustAnchors::parse(&format!(". IN DNSKEY {key}"), "test anchors").unwrap()
    }
}

async fn status(tree: &Tree, anchors: &TrustAnchors, zone: &str) -> ZoneStatus {
    let mut walker = ChainWalker::new(&tree.net, Tree::resolver(), anchors, tree.root.now());
    walker.validate(&name(zone)).await.unwrap()
}

#[tokio::test]
async fn a_split_key_zone_with_a_ds_at_the_parent_is_secure() {
    let tree = Tree::new();
    let child = TestZone::split("example.test.");
    tree.serve_zone(&child);
    tree.delegate_signed(&tree.tld, &child);
    let status = status(&tree, &tree.anchors(), "example.test.").await;
    let keys = status.keys().expect("secure");
    assert_eq!(keys.keys().len(), 2, "KSK and ZSK are both trusted");
    assert!(status.to_string().starts_with("secure"), "{status}");
}

#[tokio::test]
async fn a_signed_zone_without_ds_is_insecure_and_names_the_parent() {
    let tree = Tree::new();
    let child = TestZone::new("nods.test.");
    tree.serve_zone(&child);
    tree.delegate_without_ds(&tree.tld, child.apex());
    let status = status(&tree, &tree.anchors(), "nods.test.").await;
    let ZoneStatus::Insecure(InsecureLink::NoDs {
        parent,
        child: zone,
        child_signed,
    }) = &status
    else {
        panic!("expected insecure, got {status}");
    };
    assert_eq!(
        (parent, zone, *child_signed),
        (&"test.".to_string(), &"nods.test.".to_string(), true)
    );
    assert!(
        status.to_string().contains("its parent test. has no DS"),
        "{status}"
    );
}

#[tokio::test]
async fn an_unsigned_zone_is_insecure_and_says_so() {
    let tree = Tree::new();
    let apex = name("unsigned.test.");
    tree.net.answer(
        Tree::resolver(),
        &apex,
        DNSKEY,
        reply(ResponseCode::NoError, false, vec![], vec![]),
    );
    tree.delegate_without_ds(&tree.tld, &apex);
    let status = status(&tree, &tree.anchors(), "unsigned.test.").await;
    assert!(
        status.to_string().contains("unsigned.test. is not signed"),
        "{status}"
    );
}

#[tokio::test]
async fn a_ds_matching_no_key_is_bogus() {
    let tree = Tree::new();
    let child = TestZone::new("bogus.test.");
    let impostor = TestZone::new("bogus.test.");
    tree.serve_zone(&child);
    tree.delegate_signed(&tree.tld, &impostor);
    let status = status(&tree, &tree.anchors(), "bogus.test.").await;
    let ZoneStatus::Bogus(link) = &status else {
        panic!("expected bogus, got {status}");
    };
    assert!(
        matches!(link.reason, BogusReason::NoMatchingKey { .. }),
        "{link}"
    );
    assert!(
        status
            .to_string()
            .contains("no DNSKEY of bogus.test. matches the DS at test.")
    );
}

#[tokio::test]
async fn a_missing_ds_without_proof_is_bogus_not_insecure() {
    let tree = Tree::new();
    let child = TestZone::new("stripped.test.");
    tree.serve_zone(&child);
    tree.net.answer(
        Tree::resolver(),
        child.apex(),
        DS,
        reply(ResponseCode::NoError, false, vec![], vec![]),
    );
    let status = status(&tree, &tree.anchors(), "stripped.test.").await;
    assert!(matches!(status, ZoneStatus::Bogus(_)), "{status}");
}

#[tokio::test]
async fn a_broken_link_above_the_zone_is_the_one_reported() {
    let tree = Tree::new();
    let org = TestZone::new("org.");
    tree.serve_zone(&org);
    tree.delegate_without_ds(&tree.root, org.apex());
    let child = TestZone::new("example.org.");
    tree.serve_zone(&child);
    tree.delegate_signed(&org, &child);
    let status = status(&tree, &tree.anchors(), "example.org.").await;
    assert!(
        matches!(&status, ZoneStatus::Insecure(InsecureLink::NoDs { child, .. }) if child == "org."),
        "{status}"
    );
}

#[tokio::test]
async fn an_anchor_below_the_root_starts_the_chain_there() {
    let tree = Tree::new();
    let child = TestZone::new("example.test.");
    tree.serve_zone(&child);
    tree.delegate_signed(&tree.tld, &child);
    let anchors =
        TrustAnchors::parse(&format!("test. IN DS {}", tree.tld.ds()), "tld anchor").unwrap();
    let before = tree.net.queries_sent();
    let status = status(&tree, &anchors, "example.test.").await;
    assert!(status.keys().is_some(), "{status}");
    // test. DNSKEY, example.test. DS and DNSKEY: the root is never asked.
    assert_eq!(tree.net.queries_sent() - before, 3);
    let elsewhere = status_of_other(&tree, &anchors).await;
    assert!(
        matches!(
            elsewhere,
            ZoneStatus::Insecure(InsecureLink::NoTrustAnchor { .. })
        ),
        "{elsewhere}"
    );
}

async fn status_of_other(tree: &Tree, anchors: &TrustAnchors) -> ZoneStatus {
    let mut walker = ChainWalker::new(&tree.net, Tree::resolver(), anchors, tree.root.now());
    walker.validate(&name("example.org.")).await.unwrap()
}

#[tokio::test]
async fn a_wrong_root_anchor_is_bogus_at_the_root() {
    let tree = Tree::new();
    let status = status(&tree, &TrustAnchors::root(), "test.").await;
    let ZoneStatus::Bogus(link) = &status else {
        panic!("expected bogus, got {status}");
    };
    assert!(
        matches!(link.reason, BogusReason::AnchorMismatch(_)),
        "{link}"
    );
}

#[tokio::test]
async fn a_ch_class_ds_beside_the_signed_ds_rrset_does_not_vouch_for_a_key() {
    // Found on the old main: the DS set was read without looking at the class, so a forged CH
    // DS for the attacker's key made the attacker's DNSKEY RRset "secure".
    let tree = Tree::new();
    let child = TestZone::new("example.test.");
    let attacker = TestZone::new("example.test.");
    tree.serve_zone(&attacker);
    let mut ds = tree.tld.signed(vec![child.ds_record(3600)]);
    ds.push(in_class(&attacker.ds_record(3600), DNSClass::CH));
    tree.net.answer(
        Tree::resolver(),
        child.apex(),
        DS,
        reply(ResponseCode::NoError, false, ds, vec![]),
    );
    let status = status(&tree, &tree.anchors(), "example.test.").await;
    let ZoneStatus::Bogus(link) = &status else {
        panic!("the attacker's keys must not be trusted: {status}");
    };
    assert!(
        matches!(link.reason, BogusReason::NoMatchingKey { .. }),
        "{link}"
    );
}

#[tokio::test]
async fn a_sha1_ds_does_not_count_beside_a_sha256_one() {
    // RFC 4509 §3. Found on the old main: the SHA-1 DS alone vouched for the served key.
    let tree = Tree::new();
    let served = TestZone::new("example.test.");
    let other = TestZone::new("example.test.");
    tree.serve_zone(&served);
    let sha1 = Record::from_rdata(
        served.apex().clone(),
        3600,
        RData::DNSSEC(DNSSECRData::DS(served.ds_with(DigestType::SHA1))),
    );
    let ds = tree.tld.signed(vec![sha1.clone(), other.ds_record(3600)]);
    tree.net.answer(
        Tree::resolver(),
        served.apex(),
        DS,
        reply(ResponseCode::NoError, false, ds, vec![]),
    );
    let verdict = status(&tree, &tree.anchors(), "example.test.").await;
    assert!(
        matches!(&verdict, ZoneStatus::Bogus(link) if matches!(link.reason, BogusReason::NoMatchingKey { .. })),
        "{verdict}"
    );
    // A SHA-1 DS alone still works (validators accept it when nothing stronger is there).
    let tree = Tree::new();
    tree.serve_zone(&served);
    let ds = tree.tld.signed(vec![sha1]);
    tree.net.answer(
        Tree::resolver(),
        served.apex(),
        DS,
        reply(ResponseCode::NoError, false, ds, vec![]),
    );
    let verdict = status(&tree, &tree.anchors(), "example.test.").await;
    assert!(verdict.keys().is_some(), "{verdict}");
}

#[test]
fn usable_ds_prefers_sha256_and_sha384_to_sha1() {
    let zone = TestZone::new("example.test.");
    let set = [
        zone.ds_with(DigestType::SHA1),
        zone.ds_with(DigestType::SHA384),
    ];
    let usable = usable_ds(&set);
    assert_eq!(usable, vec![&set[1]]);
    let only_sha1 = [zone.ds_with(DigestType::SHA1)];
    assert_eq!(usable_ds(&only_sha1).len(), 1);
}
