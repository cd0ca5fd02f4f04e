//! The shared secret of the zoo's servers (`zoo-serve`, `zoo-device-server`): read from the
//! environment or a file, never from a command-line argument (which other users of the machine
//! can read in the process list).

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, bail};

/// The environment variable holding the token, on servers and clients alike.
pub const TOKEN_VARIABLE: &str = "BURN_ZOO_TOKEN";
/// Tokens shorter than this are refused: a guessable token protects nothing.
pub const MIN_TOKEN_LENGTH: usize = 16;

/// The token a server listening on `bind` requires: from `token_file` or [`TOKEN_VARIABLE`]
/// (not both); required unless `bind` is loopback. `clients` says how clients send it.
pub fn server_token(
    token_file: Option<&Path>,
    bind: SocketAddr,
    clients: &str,
) -> anyhow::Result<Option<String>> {
    let token = match (token_file, client_token()) {
        (Some(_), Some(_)) => {
            bail!("both {TOKEN_VARIABLE} and --token-file give a token; keep one")
        }
        (Some(path), None) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("{}: cannot read the token", path.display()))?
                .trim()
                .to_string(),
        ),
        (None, token) => token,
    };
    match token {
        Some(token) if token.chars().count() < MIN_TOKEN_LENGTH => bail!(
            "the token is {} characters; use at least {MIN_TOKEN_LENGTH} (e.g. `openssl rand \
             -hex 32`)",
            token.chars().count()
        ),
        None if !bind.ip().is_loopback() => bail!(
            "serving on {bind} (not loopback) needs a token: set {TOKEN_VARIABLE} or pass \
             --token-file FILE; {clients}"
        ),
        token => Ok(token),
    }
}

/// The token a client sends: [`TOKEN_VARIABLE`], if set and not blank.
pub fn client_token() -> Option<String> {
    std::env::var(TOKEN_VARIABLE)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}
