//! A workspace on a Strata team server, behind the same [`strata_store::store`] traits as a
//! local one, and the saved tokens that open it.

pub use credentials::{Credentials, TOKEN_VARIABLE, credentials_path, login, login_to, token_for};
pub use errors::ClientError;
pub use remote::RemoteStore;
pub use token::Token;
pub use transfer::digest_of_file;

mod credentials;
mod errors;
mod location;
mod remote;
mod token;
mod transfer;
