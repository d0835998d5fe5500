//! Accounts and tokens: argon2id password hashes, the password policy, the
//! lockout, minting tokens, and the extractor that authenticates a request.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;
use zhenggai_common::identity::{Claims, TOKEN_AUDIENCE, TOKEN_ISSUER};
use zhenggai_common::memo::Memo;
use zhenggai_common::{Caller, ErrorCode};

use crate::AppState;
use crate::error::ApiError;

/// What a password must be: at least `min_length` characters from at least
/// `min_classes` of lower case, upper case, digits and other characters.
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub min_classes: usize,
}

impl PasswordPolicy {
    pub fn check(&self, password: &str) -> Result<(), ApiError> {
        let classes = [
            password.chars().any(|c| c.is_lowercase()),
            password.chars().any(|c| c.is_uppercase()),
            password.chars().any(|c| c.is_ascii_digit()),
            password.chars().any(|c| !c.is_alphanumeric()),
        ]
        .into_iter()
        .filter(|has| *has)
        .count();
        if password.chars().count() < self.min_length || classes < self.min_classes {
            return Err(ApiError::invalid(format!(
                "the password must have at least {} characters from at least {} of: lower case, upper case, digits, other characters",
                self.min_length, self.min_classes
            )));
        }
        if password.chars().count() > 256 {
            return Err(ApiError::invalid(
                "the password must have at most 256 characters",
            ));
        }
        Ok(())
    }
}

/// Hashes off the async runtime: argon2id is slow on purpose.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|error| {
                ApiError::new(
                    ErrorCode::Internal,
                    format!("cannot hash a password: {error}"),
                )
            })
    })
    .await
    .map_err(|error| ApiError::new(ErrorCode::Internal, format!("hashing task failed: {error}")))?
}

/// A hash to check against when the user does not exist, so that an unknown
/// name costs as much time as a wrong password.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        Argon2::default()
            .hash_password(generate_password().as_bytes())
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
}

pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| dummy_hash().to_owned());
        let Ok(parsed) = argon2::password_hash::phc::PasswordHash::new(&hash) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && known
    })
    .await
    .unwrap_or(false)
}

/// A random password that meets any sensible policy (for the first admin).
pub fn generate_password() -> String {
    use rand::Rng as _;
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGITS: &[u8] = b"23456789";
    const OTHER: &[u8] = b"-_.+!";
    let mut rng = rand::rng();
    let mut pick = |set: &[u8]| set[rng.random_range(0..set.len())] as char;
    let mut password: String = (0..16)
        .map(|i| pick([LOWER, UPPER, DIGITS][i % 3]))
        .collect();
    password.push(pick(OTHER));
    password.push(pick(DIGITS));
    password
}

impl AppState {
    /// Mints a token for a user who just proved who they are.
    pub fn mint_token(&self, user: &crate::storage::User) -> Result<(String, Claims), ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: TOKEN_ISSUER.to_owned(),
            aud: TOKEN_AUDIENCE.to_owned(),
            sub: user.id,
            name: user.username.clone(),
            role: user.role,
            unit: user.unit.clone(),
            jti: Uuid::new_v4(),
            generation: user.generation,
            clearance: user.clearance,
            iat: now,
            nbf: now,
            exp: now + self.config.token_ttl_secs as i64,
        };
        let token = self.signer.sign(&claims).map_err(|error| {
            ApiError::new(ErrorCode::Internal, format!("cannot sign a token: {error}"))
        })?;
        Ok((token, claims))
    }
}

/// A request whose bearer token is valid, not revoked, and newer than the
/// user's last password change. Carries the token on to the services.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub caller: Caller,
    pub token: String,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthenticated(
                    "this endpoint needs a bearer token: Authorization: Bearer <token>",
                )
            })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::unauthenticated("the Authorization header must be Bearer <token>")
            })?;
        let caller = state.verifier.verify(token).map_err(|error| {
            tracing::info!(%error, "token refused");
            ApiError::unauthenticated("the token is not valid or has expired")
        })?;
        if !state.current_tokens.is_current(&caller) {
            if !crate::storage::token_is_current(&state.pool, &caller).await? {
                return Err(ApiError::unauthenticated("the token was revoked"));
            }
            state.current_tokens.remember(&caller);
        }
        Ok(Self {
            caller,
            token: token.to_owned(),
        })
    }
}

/// Tokens found current (not revoked, of the account's present generation)
/// within the last second: a client's burst of requests asks the database
/// once, not once per request. This gateway forgets a token the moment it
/// revokes it or moves its account's generation; another replica of the
/// gateway learns of it within the second.
#[derive(Debug)]
pub struct CurrentTokens(Memo<Uuid, FoundCurrent>);

/// Whose token it was, of which generation, and when it was found current.
#[derive(Debug, Clone, Copy)]
pub struct FoundCurrent {
    user_id: Uuid,
    generation: i64,
    at: std::time::Instant,
}

/// How long a token found current is taken as current.
const CURRENT_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// At most this many tokens are remembered as current at once.
const REMEMBERED_TOKENS: usize = 10_000;

fn still_current(found: &FoundCurrent) -> bool {
    found.at.elapsed() < CURRENT_FOR
}

impl Default for CurrentTokens {
    fn default() -> Self {
        Self(Memo::new(REMEMBERED_TOKENS))
    }
}

impl CurrentTokens {
    pub fn is_current(&self, caller: &Caller) -> bool {
        self.0
            .get(&caller.token_id, still_current)
            .is_some_and(|found| {
                (found.user_id, found.generation) == (caller.user_id, caller.generation)
            })
    }

    pub fn remember(&self, caller: &Caller) {
        let found = FoundCurrent {
            user_id: caller.user_id,
            generation: caller.generation,
            at: std::time::Instant::now(),
        };
        self.0.insert(caller.token_id, found, still_current);
    }

    /// A token was revoked (logout).
    pub fn forget_token(&self, token_id: Uuid) {
        self.0.forget(|id, _| *id == token_id);
    }

    /// Every token of an account whose generation moved (a new password,
    /// clearance granted or withdrawn).
    pub fn forget_user(&self, user_id: Uuid) {
        self.0.forget(|_, found| found.user_id == user_id);
    }
}

/// Accounts this gateway knows to be locked, and until when: a guess at a
/// locked account is refused from memory, without a database write, so ten
/// thousand guesses cost the database nothing after the first few. The
/// database stays the truth (another replica learns a lock on its first try).
#[derive(Debug)]
pub struct Lockouts(Memo<String, chrono::DateTime<chrono::Utc>>);

/// At most this many locked names are remembered (see [`Memo`]).
const REMEMBERED_LOCKS: usize = 100_000;

fn still_locked(until: &chrono::DateTime<chrono::Utc>) -> bool {
    *until > chrono::Utc::now()
}

impl Default for Lockouts {
    fn default() -> Self {
        Self(Memo::new(REMEMBERED_LOCKS))
    }
}

impl Lockouts {
    /// Until when `username` is locked, if this gateway knows it is.
    pub fn locked_until(&self, username: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.get(username, still_locked)
    }

    pub fn remember(&self, username: &str, until: chrono::DateTime<chrono::Utc>) {
        self.0.insert(username.to_owned(), until, still_locked);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_needs_length_and_three_classes() {
        let policy = PasswordPolicy {
            min_length: 8,
            min_classes: 3,
        };
        assert!(policy.check("Abcdefg1").is_ok());
        assert!(policy.check("abcdefg1").is_err());
        assert!(policy.check("Abc1!").is_err());
        assert!(policy.check("密码Abc12345").is_ok());
        assert!(policy.check(&generate_password()).is_ok());
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_do() {
        let hash = hash_password("Correct-horse1".into()).await.unwrap();
        assert!(verify_password("Correct-horse1".into(), Some(hash.clone())).await);
        assert!(!verify_password("wrong".into(), Some(hash)).await);
        assert!(!verify_password("anything".into(), None).await);
    }
}
