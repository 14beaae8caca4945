//! Logins, sessions and CSRF.
//!
//! Passwords are hashed with argon2id. Sessions live in the database (several web nodes can
//! share them), keyed by the sha256 of the cookie, and expire after a configurable idle time.
//! Every state-changing form carries the session's CSRF token.

use super::{AppState, WebError};
use crate::clock::now_ms;
use crate::domain::Role;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};

pub const SESSION_COOKIE: &str = "concierge_session";
/// Failed logins per address before the address is locked for the window.
pub const MAX_FAILED_LOGINS: i64 = 5;
pub const FAILED_LOGIN_WINDOW_MS: i64 = 15 * 60_000;

/// The logged-in user, put into every request that passed [`require_session`].
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub csrf_token: String,
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| anyhow::anyhow!("hashing a password: {error}"))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// 32 random bytes, hex: session cookies, CSRF tokens, one-time passwords.
pub fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A readable one-time password: 20 letters and digits.
pub fn new_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

/// `Set-Cookie` for a new session (or, with an empty token, for logging out).
pub fn set_cookie(token: &str, secure: bool) -> String {
    let max_age = if token.is_empty() { "; Max-Age=0" } else { "" };
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax{secure}{max_age}")
}

/// Every route but the login page, the health check, the metrics and the style sheet needs a
/// session.
pub async fn require_session(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if path == "/login" || path == "/healthz" || path == "/metrics" || path.starts_with("/static/")
    {
        return next.run(request).await;
    }
    let now = now_ms();
    let session = match session_cookie(request.headers()) {
        Some(token) => match state
            .store
            .session(&token_hash(&token), now - state.web.idle_timeout_ms, now)
            .await
        {
            Ok(session) => session,
            Err(error) => return WebError::from(error).into_response(),
        },
        None => None,
    };
    match session {
        Some(session) => {
            request.extensions_mut().insert(CurrentUser {
                id: session.user.id,
                email: session.user.email,
                display_name: session.user.display_name,
                role: session.user.role,
                csrf_token: session.csrf_token,
            });
            next.run(request).await
        }
        None if request.method() == Method::GET => Redirect::to("/login").into_response(),
        None => (StatusCode::UNAUTHORIZED, "Please log in again.").into_response(),
    }
}

/// Refuses a form whose CSRF token is not the session's.
pub fn check_csrf(user: &CurrentUser, submitted: &str) -> Result<(), WebError> {
    let expected = user.csrf_token.as_bytes();
    let submitted = submitted.as_bytes();
    // Constant-time comparison: the token is a secret.
    let same = expected.len() == submitted.len()
        && expected
            .iter()
            .zip(submitted)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(WebError::Forbidden(
            "the form expired; reload the page and try again",
        ))
    }
}

/// Refuses a user whose role is below `needed`.
pub fn require_role(user: &CurrentUser, needed: Role) -> Result<(), WebError> {
    if user.role >= needed {
        Ok(())
    } else {
        Err(WebError::Forbidden("your role does not allow this"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn cookies_are_read_and_written_safely() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; concierge_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("abc"));
        assert_eq!(
            set_cookie("abc", true),
            "concierge_session=abc; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        assert!(set_cookie("", false).ends_with("Max-Age=0"));
        assert_ne!(new_token(), new_token());
        assert_eq!(new_password().len(), 20);
    }
}
