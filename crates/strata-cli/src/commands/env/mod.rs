//! `strata env ...`.

pub(crate) use inspect::{diff, download, list, render_diff as render_diff_for_quickstart, show};
pub(crate) use register::{add_package, add_wheel, copy, hash, register, scaffold};

mod inspect;
mod register;
