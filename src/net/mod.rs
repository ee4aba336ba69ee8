//! Network building blocks shared by every listener of the shell (and later by the
//! simulators): parsing what clients write about addresses. No sockets here yet.

mod authority;

pub use authority::Authority;
