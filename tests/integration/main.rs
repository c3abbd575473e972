//! The one integration-test binary: the CLI and the library against real software (BIND, Knot,
//! unbound, Postfix, …) started by the harness in `lab/` on loopback addresses.

mod certs;
mod fake_mta;
mod probe_edges;
mod lab;
mod keygen;
mod tlsa;
mod util;
