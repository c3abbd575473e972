//! The one integration-test binary: the CLI and the library against real software (BIND, Knot,
//! unbound, Postfix, …) started by the harness in `lab/` on loopback addresses.

mod keygen;
mod lab;
mod tlsa;
mod util;
