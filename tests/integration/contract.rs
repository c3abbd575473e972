//! The contract every `DnsBackend` keeps (see `providers/src/lib.rs`), as one function any
//! backend's tests run against a real server: RFC 2136 against BIND and Knot here, the REST
//! backends against their providers' test servers later.

use daneroll_providers::{BackendError, DnsBackend, Outcome, Tlsa, TlsaRrset};

/// A backend under test and how to reach around it.
pub struct Contract<'a> {
    pub backend: &'a dyn DnsBackend,
    /// A TLSA owner name nobody else uses during the test.
    pub owner: String,
    /// Publishes a record at `owner` the way someone else would (not through `backend`).
    pub publish_other: &'a (dyn Fn(&Tlsa) + Sync),
    /// The TTL to publish with.
    pub ttl: u32,
}

/// A `3 1 1` record whose digest is `byte` repeated.
pub fn ee(byte: u8) -> Tlsa {
    Tlsa::new(3, 1, 1, vec![byte; 32])
}

/// A `2 1 1` record (a CA's key, as another tool publishes it).
pub fn ta(byte: u8) -> Tlsa {
    Tlsa::new(2, 1, 1, vec![byte; 32])
}

impl Contract<'_> {
    async fn read(&self) -> TlsaRrset {
        self.backend
            .read(&self.owner)
            .await
            .unwrap_or_else(|e| panic!("read {}: {e}", self.owner))
    }

    async fn expect_records(&self, expected: &[Tlsa]) -> TlsaRrset {
        let rrset = self.read().await;
        let want = TlsaRrset::new(expected.to_vec(), None);
        assert!(
            rrset.same_records(&want),
            "{}: served {:?}, expected {:?}",
            self.owner,
            rrset.records(),
            want.records()
        );
        rrset
    }

    async fn add(&self, record: &Tlsa) -> Outcome {
        let result = self.backend.add(&self.owner, record, self.ttl).await;
        result.unwrap_or_else(|e| panic!("add {record}: {e}"))
    }

    async fn remove(&self, record: &Tlsa) -> Outcome {
        let result = self.backend.remove(&self.owner, record).await;
        result.unwrap_or_else(|e| panic!("remove {record}: {e}"))
    }

    async fn remove_if(&self, record: &Tlsa, seen: &TlsaRrset) -> Result<Outcome, BackendError> {
        self.backend
            .remove_if_unchanged(&self.owner, record, seen)
            .await
    }

    /// Runs the whole contract. Leaves only the records "someone else" published.
    pub async fn check(&self) {
        let (current, next, other_ca, late_ca) = (ee(0x11), ee(0x22), ta(0x33), ta(0x44));
        assert!(
            self.read().await.is_empty(),
            "{} must start empty",
            self.owner
        );

        // Add, and add again: the second changes nothing.
        assert_eq!(self.add(&current).await, Outcome::Changed);
        let rrset = self.expect_records(std::slice::from_ref(&current)).await;
        assert_eq!(
            rrset.ttl(),
            Some(self.ttl),
            "a new RRset gets the requested TTL"
        );
        assert_eq!(self.add(&current).await, Outcome::Unchanged);
        self.expect_records(std::slice::from_ref(&current)).await;

        // Someone else's record at the same name; ours come and go around it.
        (self.publish_other)(&other_ca);
        self.expect_records(&[current.clone(), other_ca.clone()])
            .await;
        assert_eq!(self.add(&next).await, Outcome::Changed);
        let rrset = self
            .expect_records(&[current.clone(), next.clone(), other_ca.clone()])
            .await;
        assert_eq!(rrset.ttl(), Some(self.ttl), "the RRset keeps its TTL");

        // Remove, and remove again: the second changes nothing.
        assert_eq!(self.remove(&current).await, Outcome::Changed);
        self.expect_records(&[next.clone(), other_ca.clone()]).await;
        assert_eq!(self.remove(&current).await, Outcome::Unchanged);

        // Compare-and-swap: loses to a concurrent change, changing nothing.
        let seen = self.read().await;
        (self.publish_other)(&late_ca);
        let err = self.remove_if(&next, &seen).await.unwrap_err();
        assert!(err.is_stale(), "expected a stale prerequisite, got: {err}");
        assert!(err.to_string().contains(&self.owner), "{err}");
        self.expect_records(&[next.clone(), other_ca.clone(), late_ca.clone()])
            .await;

        // …and succeeds against a fresh read.
        let seen = self.read().await;
        assert_eq!(
            self.remove_if(&next, &seen).await.unwrap(),
            Outcome::Changed
        );
        let seen = self
            .expect_records(&[other_ca.clone(), late_ca.clone()])
            .await;

        // Absent record: unchanged if the view is current, stale if it is not.
        assert_eq!(
            self.remove_if(&next, &seen).await.unwrap(),
            Outcome::Unchanged
        );
        let outdated = TlsaRrset::new(vec![other_ca.clone()], None);
        let err = self.remove_if(&next, &outdated).await.unwrap_err();
        assert!(err.is_stale(), "expected stale, got: {err}");

        // The other publisher's records survived everything.
        self.expect_records(&[other_ca, late_ca]).await;
    }
}
