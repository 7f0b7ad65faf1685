//! Per-service settings from `gantry.yaml` that the local driver applies: the router's
//! timeouts and limits on the service's listen (and preview) address.

use gantry_config::{Config, RouterSettings};
use gantry_router::ServiceConfig;

use crate::LocalOptions;

/// The router's settings for a service's listener, as written under `router:`.
pub fn router_settings(r: &RouterSettings) -> ServiceConfig {
    ServiceConfig {
        client_header_timeout: r.client_header_timeout.as_std(),
        client_body_timeout: r.client_body_timeout.as_std(),
        connect_timeout: r.connect_timeout.as_std(),
        response_header_timeout: r.response_header_timeout.as_std(),
        upstream_body_timeout: r.upstream_body_timeout.as_std(),
        keepalive_timeout: r.keepalive_timeout.as_std(),
        max_connections: usize::try_from(*r.max_connections).unwrap_or(usize::MAX),
        backend_connections: usize::try_from(*r.backend_connections).unwrap_or(usize::MAX),
        queue_timeout: r.queue_timeout.as_std(),
        drain_timeout: r.drain_timeout.as_std(),
        trusted_proxies: r.trusted_proxy_nets(),
        forwarded: r.forwarded,
        max_request_headers: usize::try_from(*r.max_request_headers).unwrap_or(usize::MAX),
        max_request_header_bytes: usize::try_from(*r.max_request_header_bytes)
            .unwrap_or(usize::MAX),
        upstream: match *r.upstream {
            gantry_config::UpstreamProtocol::Http1 => gantry_router::UpstreamProtocol::Http1,
            gantry_config::UpstreamProtocol::H2c => gantry_router::UpstreamProtocol::H2c,
        },
        grpc_error_codes: gantry_router::GrpcCodes::from_codes(r.grpc_error_code_numbers()),
        // Relative to the project root: see `LocalOptions::for_config_in`.
        tls: r.tls.as_ref().map(|t| gantry_router::TlsFiles {
            cert: std::path::PathBuf::from(t.cert.as_str()),
            key: std::path::PathBuf::from(t.key.as_str()),
        }),
    }
}

impl LocalOptions {
    /// The defaults, with each service's own settings from `config`.
    pub fn for_config(config: &Config) -> Self {
        LocalOptions {
            router: config
                .services
                .iter()
                .map(|(name, s)| (name.clone(), router_settings(&s.router)))
                .collect(),
            stop_grace_of: config
                .services
                .iter()
                .map(|(name, s)| (name.clone(), s.router.stop_grace.as_std()))
                .collect(),
            ..LocalOptions::default()
        }
    }

    /// How long `service`'s instances get between SIGTERM and SIGKILL.
    pub(crate) fn stop_grace_for(&self, service: &str) -> std::time::Duration {
        self.stop_grace_of
            .get(service)
            .copied()
            .unwrap_or(self.stop_grace)
    }

    /// [`LocalOptions::for_config`] with the files settings name (`router.tls`) taken
    /// relative to `root`, the directory of gantry.yaml, wherever gantry runs from.
    pub fn for_config_in(config: &Config, root: &std::path::Path) -> Self {
        let mut options = Self::for_config(config);
        for settings in options.router.values_mut() {
            if let Some(tls) = settings.tls.as_mut() {
                tls.cert = root.join(&tls.cert);
                tls.key = root.join(&tls.key);
            }
        }
        options
    }

    /// What `service`'s listeners use: its own settings, or the router's defaults.
    pub(crate) fn router_for(&self, service: &str) -> ServiceConfig {
        self.router.get(service).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn settings_from_the_config_reach_the_listener() {
        let yaml = "project: p\nservices:\n  web:\n    listen: 127.0.0.1:8080\n    \
                    router: { response_header_timeout: 2s, max_connections: 7, drain_timeout: 45s, stop_grace: 0s, \
                    trusted_proxies: [10.0.0.0/8, 192.168.1.1], forwarded: true, max_request_headers: 50 }\n    \
                    releases: { v1: { run: ./web } }\n";
        let config = gantry_config::parse("gantry.yaml", yaml).unwrap();
        let opts = LocalOptions::for_config(&config);
        let web = opts.router_for("web");
        assert_eq!(web.response_header_timeout, Duration::from_secs(2));
        assert_eq!(web.max_connections, 7);
        assert_eq!(web.client_body_timeout, Duration::from_secs(60));
        assert_eq!(web.drain_timeout, Duration::from_secs(45));
        assert_eq!(opts.stop_grace_for("web"), Duration::ZERO);
        let nets: Vec<String> = web
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(nets, ["10.0.0.0/8", "192.168.1.1/32"]);
        assert!(web.forwarded);
        assert_eq!(web.max_request_headers, 50);
        assert_eq!(web.max_request_header_bytes, 32 * 1024);
        assert_eq!(opts.stop_grace_for("other"), Duration::from_secs(10));
        assert_eq!(opts.router_for("other"), ServiceConfig::default());
    }

    #[test]
    fn tls_files_are_relative_to_the_project_and_h2c_reaches_the_listener() {
        let yaml = "project: p\nservices:\n  web:\n    listen: 127.0.0.1:8080\n    \
                    router: { upstream: h2c, grpc_error_codes: [INTERNAL], \
                    tls: { cert: tls/cert.pem, key: /etc/keys/key.pem } }\n    \
                    releases: { v1: { run: ./web } }\n";
        let config = gantry_config::parse("gantry.yaml", yaml).unwrap();
        let web = LocalOptions::for_config_in(&config, std::path::Path::new("/srv/shop"))
            .router_for("web");
        let tls = web.tls.expect("tls reaches the listener");
        assert_eq!(tls.cert, std::path::Path::new("/srv/shop/tls/cert.pem"));
        assert_eq!(tls.key, std::path::Path::new("/etc/keys/key.pem"));
        assert_eq!(web.upstream, gantry_router::UpstreamProtocol::H2c);
        assert_eq!(
            web.grpc_error_codes,
            gantry_router::GrpcCodes::from_codes([13])
        );
    }
}
