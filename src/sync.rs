//! The one place atomics and `Arc` come from.
//!
//! Under `cfg(loom)` these are loom's model-checked types; otherwise they are
//! the standard ones. The rest of the crate never mentions loom.

#[cfg(loom)]
pub(crate) use loom::sync::{atomic, Arc};

#[cfg(not(loom))]
pub(crate) use std::sync::{atomic, Arc};
