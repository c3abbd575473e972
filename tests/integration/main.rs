//! The one integration-test binary: the CLI and the library against real software (BIND, Knot,
//! unbound, Postfix, …) started by the harness in `lab/` on loopback addresses.

mod contract;
mod fakes;
mod keygen;
mod lab;
mod observer;
mod powerdns;
mod providers;
mod records;
mod rfc2136;
mod rollover;
mod status;
mod tlsa;
mod util;
