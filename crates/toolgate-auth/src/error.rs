//! Errors in the `auth:` configuration, found when [`crate::ResourceAuth::new`] builds the
//! verifiers. Each names the configuration path and says how to fix it; none contains a secret.

use std::fmt;

/// A problem with the `auth:` configuration.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// Nothing to authenticate callers with.
    #[error(
        "auth: no way to authenticate callers is configured; set `auth.jwt` (signed tokens), \
         `auth.introspection` (opaque tokens) or `auth.api_keys`"
    )]
    NoMethod,
    /// One setting is wrong.
    #[error("{path}: {message}")]
    Invalid {
        /// Where, as a dotted path (`auth.jwt.jwks_uri`).
        path: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Several settings are wrong (all are reported at once).
    #[error("{}", Joined(.0))]
    Several(Vec<AuthConfigError>),
}

impl AuthConfigError {
    /// A problem at `path`.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        AuthConfigError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Every single problem, flattened, as `(path, message)` pairs.
    pub fn problems(&self) -> Vec<(String, String)> {
        match self {
            AuthConfigError::NoMethod => vec![("auth".to_owned(), self.to_string())],
            AuthConfigError::Invalid { path, message } => vec![(path.clone(), message.clone())],
            AuthConfigError::Several(all) => all.iter().flat_map(|e| e.problems()).collect(),
        }
    }

    /// `Ok` when `problems` is empty, the single problem, or all of them.
    pub(crate) fn collect(mut problems: Vec<AuthConfigError>) -> Result<(), AuthConfigError> {
        match problems.len() {
            0 => Ok(()),
            1 => Err(problems.remove(0)),
            _ => Err(AuthConfigError::Several(problems)),
        }
    }
}

struct Joined<'a>(&'a [AuthConfigError]);

impl fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}
