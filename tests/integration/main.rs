//! The one integration-test binary: the CLI and the library against real software (BIND, Knot,
//! unbound, Postfix, …) started by the harness in `lab/` on loopback addresses.

mod acme;
mod acme_acmesh;
mod acme_clients;
mod acme_engine;
mod bench_check;
mod certs;
mod check;
mod contract;
mod demo;
mod fake_mta;
mod fakes;
mod keygen;
mod lab;
mod observer;
mod powerdns;
mod probe;
mod probe_edges;
mod providers;
mod records;
mod reports;
mod rfc2136;
mod rollover;
mod rollover_postfix;
mod status;
mod sts;
mod sts_server;
mod tlsa;
mod tlsa_starttls;
mod util;
