//! Who may call what: the stable permission names ([`Permission`]), the roles that hold
//! them ([`Roles`]: the defaults `viewer`, `planner`, `operator`, `verifier`, `admin`, plus
//! custom roles from `access:` in gantry.yaml), and the token store
//! (`.gantry/tokens.json`, [`TokenStore`]) that binds a bearer token to a role while
//! holding only its SHA-256.
//!
//! No I/O policy beyond the token file, no knowledge of HTTP or MCP: the control plane
//! asks [`TokenStore::authenticate`] who a token is and [`Roles::allows`] whether that role
//! holds the permission a route needs.

pub mod budgets;
mod error;
mod permission;
mod roles;
mod store;

pub use error::AccessError;
pub use permission::Permission;
pub use roles::{ADMIN, DEFAULT_ROLES, Roles};
pub use store::{Denied, TOKEN_FILE, TokenRecord, TokenStore, hash_token};
