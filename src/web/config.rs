//! `--web-config FILE`: TLS and basic auth in the format Prometheus'
//! exporters read (`--web.config.file`), so an operator reuses the file
//! they already have:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: /etc/hb/web.crt
//!   key_file: /etc/hb/web.key
//!   client_auth_type: RequireAndVerifyClientCert   # mTLS
//!   client_ca_file: /etc/hb/clients-ca.crt
//!   min_version: TLS13
//! basic_auth_users:
//!   prometheus: $2y$10$...   # htpasswd -nBC 10 "" | tr -d ':\n'
//! ```
//!
//! A field hb does not know is an error naming it, not a setting silently
//! ignored: a file written for another server must not look protected
//! here when it is not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use super::users::Users;

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsFile>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
}

/// What a web configuration asks for, ready to serve with.
#[derive(Clone, Default)]
pub struct WebConfig {
    /// TLS: every connection is a TLS one, plain HTTP is refused.
    pub tls: Option<Arc<ServerConfig>>,
    /// Basic auth: a request without the credentials of one of them is
    /// answered 401.
    pub users: Option<Arc<Users>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.as_ref().map(|u| u.len()))
            .finish()
    }
}

impl WebConfig {
    /// Reads `path`; paths in it are relative to the file's directory, as
    /// Prometheus reads them. The error names the field at fault.
    pub fn read(path: &Path) -> anyhow::Result<WebConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: File = match text.trim().is_empty() {
            true => File::default(),
            false => {
                serde_yaml_ng::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?
            }
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let tls = match file.tls_server_config {
            Some(tls) => {
                Some(Arc::new(tls.server_config(dir).with_context(|| {
                    format!("{}: tls_server_config", path.display())
                })?))
            }
            None => None,
        };
        let users = match file.basic_auth_users.is_empty() {
            true => None,
            false => Some(Arc::new(
                Users::new(file.basic_auth_users)
                    .with_context(|| format!("{}: basic_auth_users", path.display()))?,
            )),
        };
        Ok(WebConfig { tls, users })
    }

    /// The scheme clients reach the server with.
    pub fn scheme(&self) -> &'static str {
        match self.tls {
            Some(_) => "https",
            None => "http",
        }
    }
}

/// How the server asks for a client's certificate.
enum ClientAuth {
    None,
    /// A certificate is checked against the CA when given.
    VerifyIfGiven,
    /// A certificate signed by the CA is required.
    Require,
}

impl TlsFile {
    fn server_config(self, dir: &Path) -> anyhow::Result<ServerConfig> {
        let versions = versions(self.min_version.as_deref(), self.max_version.as_deref())?;
        let client_auth = match self.client_auth_type.as_deref() {
            None | Some("NoClientCert") => ClientAuth::None,
            Some("VerifyClientCertIfGiven") => ClientAuth::VerifyIfGiven,
            Some("RequireAndVerifyClientCert") => ClientAuth::Require,
            // A certificate no CA vouches for proves nothing: hb does not
            // pretend these protect anything.
            Some(other @ ("RequestClientCert" | "RequireAnyClientCert")) => bail!(
                "client_auth_type: {other}: not supported (an unverified certificate proves \
                 nothing); use RequireAndVerifyClientCert or VerifyClientCertIfGiven"
            ),
            Some(other) => bail!(
                "client_auth_type: {other}: not one of NoClientCert, VerifyClientCertIfGiven, \
                 RequireAndVerifyClientCert"
            ),
        };
        let cert_file = self
            .cert_file
            .ok_or_else(|| anyhow!("cert_file: missing"))?;
        let key_file = self.key_file.ok_or_else(|| anyhow!("key_file: missing"))?;
        let certs = CertificateDer::pem_file_iter(dir.join(&cert_file))
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| anyhow!("cert_file: {}: {e}", cert_file.display()))?;
        if certs.is_empty() {
            bail!("cert_file: {}: no certificate in it", cert_file.display());
        }
        let key = PrivateKeyDer::from_pem_file(dir.join(&key_file))
            .map_err(|e| anyhow!("key_file: {}: {e}", key_file.display()))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| anyhow!("min_version: {e}"))?;
        let builder = match (client_auth, &self.client_ca_file) {
            (ClientAuth::None, None) => builder.with_no_client_auth(),
            (ClientAuth::None, Some(_)) => {
                bail!("client_ca_file: given, but client_auth_type does not verify clients")
            }
            (_, None) => bail!("client_ca_file: missing, and client_auth_type verifies clients"),
            (auth, Some(ca_file)) => {
                let mut roots = RootCertStore::empty();
                let cas = CertificateDer::pem_file_iter(dir.join(ca_file))
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| anyhow!("client_ca_file: {}: {e}", ca_file.display()))?;
                let (added, _) = roots.add_parsable_certificates(cas);
                if added == 0 {
                    bail!(
                        "client_ca_file: {}: no CA certificate in it",
                        ca_file.display()
                    );
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = match auth {
                    ClientAuth::VerifyIfGiven => verifier.allow_unauthenticated(),
                    _ => verifier,
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| anyhow!("client_ca_file: {e}"))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| anyhow!("key_file: {}: {e}", key_file.display()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// The TLS versions between `min` and `max` (Prometheus' names: TLS12,
/// TLS13); by default TLS 1.2 and 1.3. TLS 1.0 and 1.1 are refused by
/// name: they are broken, and rustls does not speak them.
fn versions(
    min: Option<&str>,
    max: Option<&str>,
) -> anyhow::Result<Vec<&'static rustls::SupportedProtocolVersion>> {
    let rank = |field: &str, v: &str| match v {
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        "TLS10" | "TLS11" => Err(anyhow!(
            "{field}: {v}: not supported (TLS 1.2 is the oldest version hb speaks)"
        )),
        other => Err(anyhow!("{field}: {other}: not one of TLS12, TLS13")),
    };
    let min = min
        .map(|v| rank("min_version", v))
        .transpose()?
        .unwrap_or(12);
    let max = max
        .map(|v| rank("max_version", v))
        .transpose()?
        .unwrap_or(13);
    if min > max {
        bail!("min_version: above max_version");
    }
    let mut versions = Vec::new();
    if min <= 12 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= 13 {
        versions.push(&rustls::version::TLS13);
    }
    Ok(versions)
}
