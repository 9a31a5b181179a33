//! The scenarios: each `pub async fn name<S: Store>(kit: Kit<S>)` runs one part of the
//! contract against a fresh kit. Every one must be listed in `for_each_scenario!` (api.rs).

mod accounts;
mod apps;
mod audit;
mod cross_cutting;
mod device;
mod generate;
mod identities;
mod instances;
mod one_welcome;
mod tokens;
mod verify;

pub use accounts::*;
pub use apps::*;
pub use audit::*;
pub use cross_cutting::*;
pub use device::*;
pub use generate::*;
pub use identities::*;
pub use instances::*;
pub use one_welcome::*;
pub use tokens::*;
pub use verify::*;
