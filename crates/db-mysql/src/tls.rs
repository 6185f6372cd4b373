//! `sslMode` → mysql_async's [`SslOpts`], with libpq's meanings (as in db-postgres):
//!
//! | sslMode | TLS | certificate chain | host name |
//! |---|---|---|---|
//! | `disable` | never | — | — |
//! | `prefer` | if the server offers it (decided once per pool, at connect) | not checked | not checked |
//! | `require` | always, never plaintext | not checked | not checked |
//! | `verify-ca` | always | checked against the system roots | not checked |
//! | `verify-full` | always | checked | checked |
//!
//! Handshake signatures are always verified, so an unchecked certificate still proves the
//! server holds its key. Roots come from the operating system's store
//! (`rustls-native-certs`, which honours `SSL_CERT_FILE` / `SSL_CERT_DIR`); mysql_async's
//! built-in Mozilla roots are not trusted for the verifying modes.
//!
//! Without the `tls` feature no TLS code is compiled (mysql_async would panic if asked for
//! TLS), so every mode but `disable` fails here, before anything is sent.

use dbcore::{DatabaseType, Error, ErrorKind, SslMode};
use mysql_async::SslOpts;

/// The native TLS options for `mode`: `None` for `disable`, an error naming the feature
/// when TLS is not compiled in, or when a verifying mode finds no trusted roots.
pub(crate) fn ssl_opts(mode: SslMode) -> Result<Option<SslOpts>, Error> {
    match mode {
        SslMode::Disable => Ok(None),
        #[cfg(feature = "tls")]
        mode => {
            enabled::install_ring_provider();
            enabled::options_for(mode, enabled::system_roots).map(Some)
        }
        #[cfg(not(feature = "tls"))]
        mode => Err(not_compiled(mode)),
    }
}

/// The error for a TLS mode in a build without the `tls` feature.
#[cfg(not(feature = "tls"))]
fn not_compiled(mode: SslMode) -> Error {
    Error::database(
        DatabaseType::Mysql,
        ErrorKind::Tls,
        None,
        format!(
            "sslMode {mode} needs TLS, but this build of db-mysql has no TLS support: enable \
             the `tls` feature of db-mysql (through dbfactory: its `mysql-tls` feature), or \
             set database.mysql.sslMode to disable to connect in plaintext"
        ),
        None,
    )
}

/// A TLS failure of the driver's own making (no trusted roots, ...).
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
fn tls_error(message: String) -> Error {
    Error::database(DatabaseType::Mysql, ErrorKind::Tls, None, message, None)
}

#[cfg(feature = "tls")]
mod enabled {
    use dbcore::{Error, SslMode};
    use mysql_async::SslOpts;

    use super::tls_error;

    /// The name checked against the certificate in `verify-ca` mode.
    ///
    /// mysql_async 0.37 skips a host-name mismatch (`with_danger_skip_domain_validation`)
    /// only when the rustls error's text contains `NotValidForName`, which rustls 0.23's
    /// `NotValidForNameContext` no longer renders (mysql_async issue #404): alone, the
    /// setting has no effect and `verify-ca` would reject every certificate not issued for
    /// the host. rustls renders the expected name in that message, so checking this name
    /// makes the text match. The name only ever fails the host-name step: rustls checks
    /// the chain first (an untrusted or expired certificate is still rejected), and the
    /// `.invalid` top-level domain is reserved, so no certificate can be issued for it.
    /// It is also sent as SNI, which MySQL and MariaDB servers do not use. Once mysql_async
    /// matches the error variant instead, the setting works on its own and this name stays
    /// harmless.
    pub(crate) const VERIFY_CA_NAME: &str = "NotValidForName.verify-ca.invalid";

    /// The mapping of each TLS mode, with the trusted roots (DER) from `roots`, only read
    /// for `verify-ca` / `verify-full`.
    pub(crate) fn options_for(
        mode: SslMode,
        roots: impl FnOnce() -> Result<Vec<Vec<u8>>, Error>,
    ) -> Result<SslOpts, Error> {
        let opts = SslOpts::default();
        Ok(match mode {
            // Encrypted, any certificate (the handshake signature is still verified).
            // mysql_async's built-in roots stay in: its verifier needs a non-empty store
            // to be built at all, and with invalid certificates accepted it never uses it.
            SslMode::Disable | SslMode::Prefer | SslMode::Require => {
                opts.with_danger_accept_invalid_certs(true)
            }
            SslMode::VerifyCa => opts
                .with_disable_built_in_roots(true)
                .with_root_certs(roots()?.into_iter().map(Into::into).collect())
                .with_danger_skip_domain_validation(true)
                .with_danger_tls_hostname_override(Some(VERIFY_CA_NAME)),
            SslMode::VerifyFull => opts
                .with_disable_built_in_roots(true)
                .with_root_certs(roots()?.into_iter().map(Into::into).collect()),
        })
    }

    /// The operating system's trusted roots, as DER (those rustls can use: mysql_async
    /// would fail every connect on one it cannot parse).
    pub(crate) fn system_roots() -> Result<Vec<Vec<u8>>, Error> {
        let found = rustls_native_certs::load_native_certs();
        let roots: Vec<Vec<u8>> = found
            .certs
            .into_iter()
            .filter(|cert| rustls::RootCertStore::empty().add(cert.clone()).is_ok())
            .map(|cert| cert.to_vec())
            .collect();
        if roots.is_empty() {
            let why = found
                .errors
                .first()
                .map(ToString::to_string)
                .unwrap_or_else(|| "the store is empty".into());
            return Err(tls_error(format!(
                "sslMode verify-ca/verify-full needs trusted root certificates, but none \
                 could be loaded from the system store ({why}); install the CA (e.g. \
                 ca-certificates) or set SSL_CERT_FILE"
            )));
        }
        Ok(roots)
    }

    /// mysql_async builds its rustls configuration with the process-wide crypto provider.
    /// If the application has not chosen one, choose ring, the provider this crate enables:
    /// rustls would pick it too when it is the only one compiled in, but panics when
    /// another crate of the application also enables aws-lc-rs.
    pub(crate) fn install_ring_provider() {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing a race against another installer is fine: one provider is in place.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use super::*;

    #[test]
    fn disable_has_no_tls_options() {
        assert!(ssl_opts(SslMode::Disable).unwrap().is_none());
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn tls_modes_name_the_missing_feature() {
        for mode in [
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ] {
            let err = ssl_opts(mode).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
            let msg = err.to_string();
            assert!(msg.contains(&format!("sslMode {mode}")), "{msg}");
            assert!(msg.contains("`tls` feature of db-mysql"), "{msg}");
            assert!(msg.contains("`mysql-tls`"), "{msg}");
        }
    }

    #[cfg(feature = "tls")]
    mod enabled {
        use rustls::pki_types::ServerName;

        use super::super::enabled::{VERIFY_CA_NAME, options_for};
        use super::*;

        fn fake_roots() -> Result<Vec<Vec<u8>>, Error> {
            Ok(vec![b"root one".to_vec(), b"root two".to_vec()])
        }

        fn no_roots() -> Result<Vec<Vec<u8>>, Error> {
            Err(tls_error("no roots".into()))
        }

        /// The roots of `fake_roots`, as mysql_async holds them.
        fn fake_root_certs() -> SslOpts {
            SslOpts::default()
                .with_root_certs(fake_roots().unwrap().into_iter().map(Into::into).collect())
        }

        #[test]
        fn unverified_modes_encrypt_and_accept_any_certificate() {
            for mode in [SslMode::Prefer, SslMode::Require] {
                // The roots are not even read.
                let opts = options_for(mode, no_roots).unwrap();
                assert!(opts.accept_invalid_certs(), "{mode}");
                assert!(!opts.skip_domain_validation(), "{mode}");
                assert!(!opts.disable_built_in_roots(), "{mode}");
                assert!(opts.root_certs().is_empty(), "{mode}");
                assert_eq!(opts.tls_hostname_override(), None, "{mode}");
            }
            let opts = ssl_opts(SslMode::Require).unwrap().unwrap();
            assert!(opts.accept_invalid_certs());
        }

        #[test]
        fn verify_ca_checks_the_chain_against_the_given_roots_only() {
            let opts = options_for(SslMode::VerifyCa, fake_roots).unwrap();
            assert!(!opts.accept_invalid_certs());
            assert!(opts.skip_domain_validation());
            assert!(opts.disable_built_in_roots());
            assert_eq!(opts.root_certs(), fake_root_certs().root_certs());
            assert_eq!(opts.tls_hostname_override(), Some(VERIFY_CA_NAME));
        }

        #[test]
        fn verify_full_checks_chain_and_host_name() {
            let opts = options_for(SslMode::VerifyFull, fake_roots).unwrap();
            assert!(!opts.accept_invalid_certs());
            assert!(!opts.skip_domain_validation());
            assert!(opts.disable_built_in_roots());
            assert_eq!(opts.root_certs(), fake_root_certs().root_certs());
            // The configured host is checked.
            assert_eq!(opts.tls_hostname_override(), None);
        }

        #[test]
        fn verifying_modes_fail_without_roots() {
            for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
                let err = options_for(mode, no_roots).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Tls);
            }
        }

        /// Pins what the `verify-ca` work-around relies on: the message of a host-name
        /// mismatch for [`VERIFY_CA_NAME`] contains the text mysql_async 0.37 looks for.
        #[test]
        fn verify_ca_name_mismatch_is_recognised_by_mysql_async() {
            let expected = ServerName::try_from(VERIFY_CA_NAME).unwrap().to_owned();
            let err = rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext {
                    expected,
                    presented: vec!["db.example.com".into()],
                },
            );
            assert!(err.to_string().contains("NotValidForName"), "{err}");
        }

        #[test]
        fn a_process_provider_is_in_place_after_setup() {
            super::super::enabled::install_ring_provider();
            assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        }
    }
}
