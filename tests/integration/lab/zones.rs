//! The lab's DNS tree: the address plan and every zone file.
//!
//! ```text
//! .                     BIND  127.N.1.1                signed (CSK), the trust anchor
//! └─ example.           BIND  127.N.2.1                signed, DS in .
//!    ├─ mx.example.     BIND  127.N.3.1 + 127.N.3.11   primary, signed, dynamic (TLSA)
//!    │                  BIND  127.N.3.2 + 127.N.3.12   secondary (NOTIFY + IXFR)
//!    ├─ corp.example.   same servers as mx.example.    signed; MX 10 mail.mx.example.;
//!    │                                                  relay.corp.example. CNAME mail.mx.example.;
//!    │                                                  sts.corp.example. (MTA-STS, TLS-RPT)
//!    ├─ insecure.example.  BIND 127.N.4.1              unsigned, dynamic
//!    ├─ bogus.example.     BIND 127.N.4.1              signed, dynamic, DS at parent wrong
//!    ├─ nods.example.      BIND 127.N.4.1              signed, dynamic, no DS at parent
//!    └─ knot.example.   Knot  127.N.5.1                signed (NSEC3), dynamic (TLSA)
//! resolver: unbound 127.N.0.53; mail hosts: 127.N.25.x
//! ```
//!
//! Every TTL is 5 s and every SOA minimum (negative TTL, RFC 2308 §5) is 5 s, so caches turn
//! over within a test. Each zone's NS names live in the zone (with glue at the parent), as most
//! operators set them up.

use std::net::Ipv4Addr;

use super::net::AddrBlock;

/// TTL of every record, and the negative TTL of every zone.
pub const TTL: u32 = 5;

/// The addresses of one lab, all in its `127.N.0.0/16` block.
pub struct Plan {
    pub resolver: Ipv4Addr,
    pub root: Ipv4Addr,
    pub tld: Ipv4Addr,
    pub mx_primary: [Ipv4Addr; 2],
    pub mx_secondary: [Ipv4Addr; 2],
    pub misc: Ipv4Addr,
    pub knot: Ipv4Addr,
    /// mail.mx.example., mail2.mx.example., mx.example. (apex), mail.insecure.example.,
    /// mail.bogus.example., mail.nods.example., mail.knot.example.
    pub hosts: [Ipv4Addr; 7],
}

impl Plan {
    pub fn new(block: &AddrBlock) -> Self {
        Self {
            resolver: block.addr(0, 53),
            root: block.addr(1, 1),
            tld: block.addr(2, 1),
            mx_primary: [block.addr(3, 1), block.addr(3, 11)],
            mx_secondary: [block.addr(3, 2), block.addr(3, 12)],
            misc: block.addr(4, 1),
            knot: block.addr(5, 1),
            hosts: [1, 2, 3, 4, 5, 6, 7].map(|y| block.addr(25, y)),
        }
    }

    /// Every address the lab puts on `lo`.
    pub fn all(&self) -> Vec<Ipv4Addr> {
        let mut all = vec![self.resolver, self.root, self.tld, self.misc, self.knot];
        all.extend(self.mx_primary);
        all.extend(self.mx_secondary);
        all.extend(self.hosts);
        all
    }
}

/// The DS records the parents publish.
pub struct Delegations {
    pub example: String,
    pub mx: String,
    pub corp: String,
    /// Deliberately wrong: bogus.example. must fail validation.
    pub bogus: String,
    pub knot: String,
}

fn soa(zone: &str, mname: &str) -> String {
    let rname = if zone == "." {
        "hostmaster.root."
    } else {
        &format!("hostmaster.{zone}")
    };
    format!("$TTL {TTL}\n{zone} SOA {mname} {rname} 1 10 2 600 {TTL}\n")
}

pub fn root(plan: &Plan, ds: &Delegations) -> String {
    format!(
        "{soa}. NS a.root.\na.root. A {root}\n\
         example. NS ns1.example.\nns1.example. A {tld}\n{ds}\n",
        soa = soa(".", "a.root."),
        root = plan.root,
        tld = plan.tld,
        ds = ds.example,
    )
}

pub fn example(plan: &Plan, ds: &Delegations) -> String {
    let [p1, p2] = plan.mx_primary;
    let [s1, s2] = plan.mx_secondary;
    let (misc, knot) = (plan.misc, plan.knot);
    format!(
        "{soa}example. NS ns1.example.\nns1.example. A {tld}\n\
         mx NS ns1.mx\nmx NS ns2.mx\nns1.mx A {p1}\nns1.mx A {p2}\nns2.mx A {s1}\nns2.mx A {s2}\n\
         {mx_ds}\n\
         corp NS ns1.mx.example.\ncorp NS ns2.mx.example.\n{corp_ds}\n\
         insecure NS ns1.insecure\nns1.insecure A {misc}\n\
         bogus NS ns1.bogus\nns1.bogus A {misc}\n{bogus_ds}\n\
         nods NS ns1.nods\nns1.nods A {misc}\n\
         knot NS ns1.knot\nns1.knot A {knot}\n{knot_ds}\n",
        soa = soa("example.", "ns1.example."),
        tld = plan.tld,
        mx_ds = ds.mx,
        corp_ds = ds.corp,
        bogus_ds = ds.bogus,
        knot_ds = ds.knot,
    )
}

pub fn mx(plan: &Plan) -> String {
    let [p1, p2] = plan.mx_primary;
    let [s1, s2] = plan.mx_secondary;
    let [mail, mail2, apex, ..] = plan.hosts;
    format!(
        "{soa}mx.example. NS ns1.mx.example.\nmx.example. NS ns2.mx.example.\n\
         ns1 A {p1}\nns1 A {p2}\nns2 A {s1}\nns2 A {s2}\n\
         mx.example. A {apex}\nmail A {mail}\nmail2 A {mail2}\n\
         $GENERATE 1-{BENCH_HOSTS} bench-$ A {bench}$\n",
        soa = soa("mx.example.", "ns1.mx.example."),
        bench = bench_prefix(plan),
    )
}

/// How many `bench-K.mx.example.` hosts (K = 1…) the mx zone has, for `check` benchmarks.
pub const BENCH_HOSTS: u8 = 100;

/// `127.N.26.`: bench-K.mx.example. is `127.N.26.K` (not added to `lo` unless a benchmark
/// asks, see `Lab::add_addresses`).
fn bench_prefix(plan: &Plan) -> String {
    let [_, n, _, _] = plan.resolver.octets();
    format!("127.{n}.26.")
}

/// `corp.example.` also holds `sts.corp.example.`, a mail domain (MX mail.mx.example.) with
/// MTA-STS (RFC 8461: `_mta-sts` TXT, `mta-sts.` on mail.mx.example.'s address, where a test
/// serves the policy on port 443) and TLS-RPT (RFC 8460: `_smtp._tls` TXT) records.
pub fn corp(plan: &Plan) -> String {
    let mail = plan.hosts[0];
    format!(
        "{soa}corp.example. NS ns1.mx.example.\ncorp.example. NS ns2.mx.example.\n\
         corp.example. MX 10 mail.mx.example.\n\
         _smtp._tls.corp.example. TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@corp.example\"\n\
         relay.corp.example. CNAME mail.mx.example.\n\
         sts.corp.example. MX 10 mail.mx.example.\n\
         _mta-sts.sts.corp.example. TXT \"v=STSv1; id=20261203T1\"\n\
         _smtp._tls.sts.corp.example. TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@sts.corp.example\"\n\
         mta-sts.sts.corp.example. A {mail}\n",
        soa = soa("corp.example.", "ns1.mx.example."),
    )
}

/// A zone on the misc server (insecure., bogus., nods.) with its NS and one mail host.
pub fn misc(zone: &str, plan: &Plan, host: Ipv4Addr) -> String {
    format!(
        "{soa}{zone} NS ns1.{zone}\nns1.{zone} A {misc}\nmail.{zone} A {host}\n",
        soa = soa(zone, &format!("ns1.{zone}")),
        misc = plan.misc,
    )
}

pub fn knot(plan: &Plan) -> String {
    format!(
        "{soa}knot.example. NS ns1.knot.example.\nns1.knot.example. A {knot}\n\
         mail.knot.example. A {host}\n",
        soa = soa("knot.example.", "ns1.knot.example."),
        knot = plan.knot,
        host = plan.hosts[6],
    )
}
