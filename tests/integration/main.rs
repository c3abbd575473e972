//! The one integration-test binary: the CLI and the library against real software (BIND, Knot,
//! unbound, Postfix, …) started by the harness in `lab/` on loopback addresses.

mod contract;
mod fakes;
mod keygen;
mod lab;
mod powerdns;
mod providers;
mod rfc2136;
mod tlsa;
mod util;
