//! The caller's identity: who is asking, in which role, for which unit.
//!
//! The gateway mints a short-lived token signed with an Ed25519 private key;
//! every service verifies it with the public key alone, so a service can
//! check an identity but never forge one. The token travels in the
//! `authorization` metadata of every gRPC call.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::memo::Memo;

/// Issuer and audience of every token.
pub const TOKEN_ISSUER: &str = "zhenggai";
/// Audience of every user token.
pub const TOKEN_AUDIENCE: &str = "zhenggai";

/// A unit's official statistical division code (统计用区划代码), or a
/// department code under its government's code (`411081D003`).
///
/// Codes are hierarchical by prefix: a unit's code extends its parent's, so
/// "is X inside Y's subtree" is a prefix test and needs no database. Above the
/// provinces stands the nation (全国), code `00`, which the statistics bureau's
/// table does not list: every code lies within it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UnitCode(String);

/// Text that is not a unit code (the text is kept to say so).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{0:?} is not a unit code: expected 2, 4, 6, 9 or 12 digits (统计用区划代码; 00 for the nation), or a government code followed by D and 3 digits for a department"
)]
pub struct InvalidUnitCode(pub String);

/// The nation's code (全国): the root above every province.
pub const NATION: &str = "00";

impl UnitCode {
    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The nation (全国), root of the whole directory.
    pub fn nation() -> Self {
        Self(NATION.to_owned())
    }

    /// True for 全国, the root.
    pub fn is_nation(&self) -> bool {
        self.0 == NATION
    }

    /// What every code of this subtree starts with (nothing, for the nation).
    pub fn subtree_prefix(&self) -> &str {
        if self.is_nation() { "" } else { &self.0 }
    }

    /// A `LIKE` pattern matching every code of this subtree.
    pub fn subtree_pattern(&self) -> String {
        format!("{}%", self.subtree_prefix())
    }

    /// A department's code (`411081D003`).
    pub fn is_department(&self) -> bool {
        self.0.contains('D')
    }

    /// The code this one must extend: the government of a department, or the
    /// next shorter division code.
    pub fn parent(&self) -> Option<UnitCode> {
        if let Some((government, _)) = self.0.split_once('D') {
            return Some(UnitCode(government.to_owned()));
        }
        let parent_len = match self.0.len() {
            12 => 9,
            9 => 6,
            6 => 4,
            4 => 2,
            2 if !self.is_nation() => return Some(Self::nation()),
            _ => return None,
        };
        Some(UnitCode(self.0[..parent_len].to_owned()))
    }

    /// This code and every code above it, root first.
    pub fn lineage(&self) -> Vec<UnitCode> {
        let mut chain = vec![self.clone()];
        while let Some(parent) = chain.last().and_then(UnitCode::parent) {
            chain.push(parent);
        }
        chain.reverse();
        chain
    }

    /// True when `self` is `other` or lies below it.
    pub fn is_within(&self, other: &UnitCode) -> bool {
        self.0.starts_with(other.subtree_prefix())
    }
}

impl TryFrom<String> for UnitCode {
    type Error = InvalidUnitCode;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        // No real code starts with 00, the nation's: below it, that would be
        // a unit that is within the nation by its prefix alone.
        let is_division = |s: &str| {
            matches!(s.len(), 2 | 4 | 6 | 9 | 12)
                && s.bytes().all(|b| b.is_ascii_digit())
                && (s == NATION || !s.starts_with(NATION))
        };
        let valid = match text.split_once('D') {
            Some((government, seq)) => {
                is_division(government)
                    && government.len() >= 6
                    && seq.len() == 3
                    && seq.bytes().all(|b| b.is_ascii_digit())
            }
            None => is_division(&text),
        };
        if valid {
            Ok(Self(text))
        } else {
            Err(InvalidUnitCode(text))
        }
    }
}

impl TryFrom<&str> for UnitCode {
    type Error = InvalidUnitCode;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        Self::try_from(text.to_owned())
    }
}

impl From<UnitCode> for String {
    fn from(code: UnitCode) -> Self {
        code.0
    }
}

impl fmt::Display for UnitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The six roles of DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 领导小组办公室: publishes, starts campaigns, approves 销号, manages accounts.
    CityAdmin,
    /// 调研指导组: reads everything in its area.
    Supervisor,
    /// 市直行业部门: answers for the problems it is responsible for.
    Department,
    /// 乡镇/街道: fills its ledger, reviews its villages.
    Township,
    /// 村/社区: fills its ledger.
    Village,
    /// 审计: reads everything in its area.
    Auditor,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] = [
        Self::CityAdmin,
        Self::Supervisor,
        Self::Department,
        Self::Township,
        Self::Village,
        Self::Auditor,
    ];

    /// The role as tokens and the API write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CityAdmin => "city_admin",
            Self::Supervisor => "supervisor",
            Self::Department => "department",
            Self::Township => "township",
            Self::Village => "village",
            Self::Auditor => "auditor",
        }
    }
}

/// Text that is not a role.
#[derive(Debug, thiserror::Error)]
#[error(
    "{0:?} is not a role: expected one of city_admin, supervisor, department, township, village, auditor"
)]
pub struct InvalidRole(pub String);

impl std::str::FromStr for Role {
    type Err = InvalidRole;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| InvalidRole(text.to_owned()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The claims of a zhenggai token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: always [`TOKEN_ISSUER`].
    pub iss: String,
    /// Audience: [`TOKEN_AUDIENCE`] for people, `zhenggai-internal` for services.
    pub aud: String,
    /// The user's id.
    pub sub: Uuid,
    /// The user's login name.
    pub name: String,
    /// The account's role.
    pub role: Role,
    /// The account's unit; it sees that unit's subtree.
    pub unit: UnitCode,
    /// The token's id, which logout revokes.
    pub jti: Uuid,
    /// The account's token generation: a password change starts a new one,
    /// and tokens of an older generation stop working.
    #[serde(default)]
    pub generation: i64,
    /// May read household personal data in clear (a grant by the city office;
    /// nobody holds it by default).
    #[serde(default)]
    pub clearance: bool,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Not valid before (seconds since the epoch).
    pub nbf: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
}

/// Who is asking: built once from a verified token and trusted inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The account's id.
    pub user_id: Uuid,
    /// The account's login name.
    pub username: String,
    /// The account's role.
    pub role: Role,
    /// The account's unit.
    pub unit: UnitCode,
    /// The token's id (what logout revokes).
    pub token_id: Uuid,
    /// The account's token generation when the token was minted.
    pub generation: i64,
    /// May read household personal data in clear.
    pub clearance: bool,
    /// When the token expires (Unix seconds).
    pub expires_at: i64,
}

impl Caller {
    /// The root of the subtree the caller may read. A department answers for
    /// its problems across its whole government's area, so it reads that area.
    pub fn scope(&self) -> UnitCode {
        if self.role == Role::Department {
            self.unit.parent().unwrap_or_else(|| self.unit.clone())
        } else {
            self.unit.clone()
        }
    }

    /// May the caller see this unit and what belongs to it?
    pub fn sees(&self, code: &UnitCode) -> bool {
        code.is_within(&self.scope())
    }

    /// May the caller see this unit's name and code? Its own subtree, plus
    /// the chain of units above it (a village shows its township and county).
    pub fn sees_directory_entry(&self, code: &UnitCode) -> bool {
        self.sees(code) || self.unit.is_within(code)
    }
}

impl From<Claims> for Caller {
    fn from(claims: Claims) -> Self {
        Self {
            user_id: claims.sub,
            username: claims.name,
            role: claims.role,
            unit: claims.unit,
            token_id: claims.jti,
            generation: claims.generation,
            clearance: claims.clearance,
            expires_at: claims.exp,
        }
    }
}

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read key file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file could not be written.
    #[error("cannot write key file {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no usable Ed25519 key.
    #[error("key file {path} does not hold an Ed25519 key in PEM: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        source: jsonwebtoken::errors::Error,
    },
    /// A key pair could not be generated.
    #[error("cannot generate an Ed25519 key")]
    Generate,
    #[error(
        "only one of the two key files exists; restore the other or remove both to make a new pair"
    )]
    /// One file of a pair exists and the other does not.
    HalfPair,
}

/// A fresh Ed25519 key pair as PEM texts (PKCS#8 private, SPKI public), the
/// same files `openssl genpkey -algorithm ed25519` writes.
pub fn generate_key_pair() -> Result<(String, String), KeyError> {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
        .map_err(|_| KeyError::Generate)?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| KeyError::Generate)?;
    // SubjectPublicKeyInfo for Ed25519: a fixed 12-byte prefix, then the 32-byte key.
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(pair.public_key().as_ref());
    Ok((pem("PRIVATE KEY", pkcs8.as_ref()), pem("PUBLIC KEY", &spki)))
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).unwrap_or_default());
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

/// Writes a new key pair unless both files are there already. The private key
/// file is created readable by its owner only. When just one of the two files
/// exists, nothing is replaced: that is an operator's mistake to look at.
pub fn ensure_key_files(private: &Path, public: &Path) -> Result<bool, KeyError> {
    match (private.exists(), public.exists()) {
        (true, true) => return Ok(false),
        (false, false) => {}
        (true, false) | (false, true) => return Err(KeyError::HalfPair),
    }
    let (private_pem, public_pem) = generate_key_pair()?;
    let write = |path: &Path, text: &str, mode: u32| {
        let failed = |source| KeyError::Write {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(path).map_err(failed)?;
        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(failed)
    };
    write(private, &private_pem, 0o600)?;
    write(public, &public_pem, 0o644)?;
    Ok(true)
}

fn read_key(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Mints tokens: held by the gateway alone.
#[derive(Clone)]
pub struct TokenSigner {
    key: Arc<EncodingKey>,
}

impl TokenSigner {
    /// A signer from an Ed25519 private key in PEM.
    pub fn from_pem(pem: &[u8]) -> Result<Self, jsonwebtoken::errors::Error> {
        Ok(Self {
            key: Arc::new(EncodingKey::from_ed_pem(pem)?),
        })
    }

    /// A signer from a PEM file.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        Self::from_pem(&read_key(path)?).map_err(|source| KeyError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    /// Signs claims into a token.
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), claims, &self.key)
    }
}

/// Why a token was refused. Logged, never shown beyond "unauthenticated".
#[derive(Debug, thiserror::Error)]
#[error("token refused: {0}")]
pub struct TokenRejected(#[from] jsonwebtoken::errors::Error);

/// Verifies tokens: held by every service, and cloned per request (hence
/// the shared parts behind `Arc`).
#[derive(Clone)]
pub struct TokenVerifier {
    key: Arc<DecodingKey>,
    validation: Arc<Validation>,
    verified: Arc<Memo<String, VerifiedToken>>,
}

/// A token whose signature and claims were checked once: a client sends the
/// same token with every request, and each hop (gateway, then service) would
/// otherwise verify its Ed25519 signature again, the largest share of a
/// cheap read's CPU. Only its time window is checked again on a repeat.
#[derive(Clone)]
struct VerifiedToken {
    caller: Caller,
    not_before: i64,
}

/// Verified tokens remembered at once (see [`Memo`]: a token forgotten is
/// verified again on its next use).
const VERIFIED_TOKENS: usize = 4096;

/// Seconds of clock skew allowed on `nbf` and `exp`.
const LEEWAY_SECS: i64 = 5;

/// How a token for `audience` is checked: signed by our key (EdDSA), from us,
/// for that audience, within its time window.
fn validation(audience: &str) -> Validation {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[TOKEN_ISSUER]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECS as u64;
    validation
}

impl TokenVerifier {
    /// A verifier from an Ed25519 public key in PEM.
    pub fn from_pem(pem: &[u8]) -> Result<Self, jsonwebtoken::errors::Error> {
        Ok(Self {
            key: Arc::new(DecodingKey::from_ed_pem(pem)?),
            validation: Arc::new(validation(TOKEN_AUDIENCE)),
            verified: Arc::new(Memo::new(VERIFIED_TOKENS)),
        })
    }

    /// A verifier from a PEM file.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        Self::from_pem(&read_key(path)?).map_err(|source| KeyError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    /// Checks a user token's signature, issuer, audience and times, and answers who it names.
    pub fn verify(&self, token: &str) -> Result<Caller, TokenRejected> {
        let now = chrono::Utc::now().timestamp();
        let in_window = |t: &VerifiedToken| {
            t.not_before - LEEWAY_SECS <= now && now < t.caller.expires_at + LEEWAY_SECS
        };
        if let Some(known) = self.verified.get(token, in_window) {
            return Ok(known.caller);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)?.claims;
        let known = VerifiedToken {
            not_before: claims.nbf,
            caller: claims.into(),
        };
        self.verified
            .insert(token.to_owned(), known.clone(), in_window);
        Ok(known.caller)
    }
}

/// The audience of tokens that services mint for each other. The gateway's
/// verifier demands [`TOKEN_AUDIENCE`], so a service token is never a user's.
pub const SERVICE_AUDIENCE: &str = "zhenggai-internal";

/// A peer service on the other end of an internal call (the ledger's outbox
/// relay calling the scheduler, say). Internal RPCs take only peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The calling service (scheduler, ledger, …).
    pub service: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct ServiceClaims {
    iss: String,
    aud: String,
    /// The calling service's name.
    sub: String,
    iat: i64,
    nbf: i64,
    exp: i64,
}

/// The back-end services' own identity: one Ed25519 key pair that the
/// ledger, scheduler and notifier hold (the gateway does not), to call each
/// other on their own behalf when no user is waiting, as an outbox relay does.
#[derive(Clone)]
pub struct ServiceIdentity {
    name: String,
    signer: Arc<EncodingKey>,
    key: Arc<DecodingKey>,
    validation: Arc<Validation>,
}

impl ServiceIdentity {
    /// The services' key pair from its two PEM files.
    pub fn from_files(name: &str, private: &Path, public: &Path) -> Result<Self, KeyError> {
        fn parse(path: &Path) -> impl FnOnce(jsonwebtoken::errors::Error) -> KeyError + '_ {
            move |source| KeyError::Parse {
                path: path.display().to_string(),
                source,
            }
        }
        let signer = EncodingKey::from_ed_pem(&read_key(private)?).map_err(parse(private))?;
        let key = DecodingKey::from_ed_pem(&read_key(public)?).map_err(parse(public))?;
        Ok(Self {
            name: name.to_owned(),
            signer: Arc::new(signer),
            key: Arc::new(key),
            validation: Arc::new(validation(SERVICE_AUDIENCE)),
        })
    }

    /// A short-lived token that names this service.
    pub fn token(&self) -> Result<String, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = ServiceClaims {
            iss: TOKEN_ISSUER.to_owned(),
            aud: SERVICE_AUDIENCE.to_owned(),
            sub: self.name.clone(),
            iat: now,
            nbf: now,
            exp: now + 300,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.signer)
    }

    /// Checks another service's token.
    pub fn verify(&self, token: &str) -> Result<Peer, TokenRejected> {
        let data = jsonwebtoken::decode::<ServiceClaims>(token, &self.key, &self.validation)?;
        Ok(Peer {
            service: data.claims.sub,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_tokens_are_not_user_tokens_and_back() {
        let dir = std::env::temp_dir().join(format!("zg-keys-{}", Uuid::new_v4()));
        let (private, public) = (dir.join("service.pem"), dir.join("service.pub"));
        ensure_key_files(&private, &public).unwrap();
        let service = ServiceIdentity::from_files("ledger", &private, &public).unwrap();
        let token = service.token().unwrap();
        assert_eq!(service.verify(&token).unwrap().service, "ledger");
        // The same key as a user verifier: the audience differs, so no.
        let users = TokenVerifier::from_file(&public).unwrap();
        assert!(users.verify(&token).is_err());
        std::fs::remove_dir_all(dir).ok();
    }

    fn code(text: &str) -> UnitCode {
        UnitCode::try_from(text).unwrap()
    }

    #[test]
    fn unit_codes_are_validated_and_nest_by_prefix() {
        assert!(UnitCode::try_from("411081114204").is_ok());
        assert!(UnitCode::try_from("411081D003").is_ok());
        for bad in [
            "",
            "4",
            "41108",
            "41108111420x",
            "411081D03",
            "41D001",
            "411081 114",
            "0012",
            "001081114204",
        ] {
            assert!(UnitCode::try_from(bad).is_err(), "{bad} accepted");
        }
        let village = code("411081114204");
        assert_eq!(
            village
                .lineage()
                .iter()
                .map(UnitCode::as_str)
                .collect::<Vec<_>>(),
            ["00", "41", "4110", "411081", "411081114", "411081114204"]
        );
        let nation = UnitCode::nation();
        assert_eq!(nation.parent(), None);
        assert_eq!(code("41").parent(), Some(nation.clone()));
        assert!(village.is_within(&nation) && code("11").is_within(&nation));
        assert!(!nation.is_within(&code("41")));
        assert_eq!(nation.subtree_pattern(), "%");
        assert_eq!(code("41").subtree_pattern(), "41%");
        assert_eq!(code("411081D003").parent(), Some(code("411081")));
        assert!(village.is_within(&code("411081")));
        assert!(!village.is_within(&code("411003")));
    }

    fn caller(role: Role, unit: &str) -> Caller {
        Caller {
            user_id: Uuid::nil(),
            username: "u".into(),
            role,
            unit: code(unit),
            token_id: Uuid::nil(),
            generation: 0,
            clearance: false,
            expires_at: 0,
        }
    }

    #[test]
    fn a_village_sees_its_subtree_and_its_ancestors_entries_only() {
        let village = caller(Role::Village, "411081114204");
        assert!(village.sees(&code("411081114204")));
        assert!(!village.sees(&code("411081114")));
        assert!(village.sees_directory_entry(&code("411081114")));
        assert!(!village.sees_directory_entry(&code("411081114205")));
    }

    #[test]
    fn a_department_reads_its_government_area() {
        let department = caller(Role::Department, "411081D003");
        assert!(department.sees(&code("411081114204")));
        assert!(!department.sees(&code("411003")));
    }

    #[test]
    fn tokens_verify_with_the_public_key_only() {
        let (private, public) = generate_key_pair().unwrap();
        let signer = TokenSigner::from_pem(private.as_bytes()).unwrap();
        let verifier = TokenVerifier::from_pem(public.as_bytes()).unwrap();
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: TOKEN_ISSUER.into(),
            aud: TOKEN_AUDIENCE.into(),
            sub: Uuid::new_v4(),
            name: "admin".into(),
            role: Role::CityAdmin,
            unit: code("411081"),
            jti: Uuid::new_v4(),
            generation: 0,
            clearance: false,
            iat: now,
            nbf: now,
            exp: now + 60,
        };
        let token = signer.sign(&claims).unwrap();
        assert_eq!(verifier.verify(&token).unwrap().username, "admin");
        // Remembered now: a repeat answers alike, a tampered copy still fails.
        assert_eq!(verifier.verify(&token).unwrap().username, "admin");
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(
            verifier
                .verify(std::str::from_utf8(&tampered).unwrap())
                .is_err()
        );
        // A remembered token whose time is up is not taken from memory.
        let mut lapsed = verifier.verified.get(&token, |_| true).unwrap();
        lapsed.caller.expires_at = now - 600;
        verifier.verified.insert("lapsed".into(), lapsed, |_| true);
        assert!(verifier.verify("lapsed").is_err());

        let (_, other_public) = generate_key_pair().unwrap();
        let stranger = TokenVerifier::from_pem(other_public.as_bytes()).unwrap();
        assert!(stranger.verify(&token).is_err());

        let expired = Claims {
            exp: now - 600,
            nbf: now - 900,
            iat: now - 900,
            ..claims
        };
        assert!(verifier.verify(&signer.sign(&expired).unwrap()).is_err());
    }
}
