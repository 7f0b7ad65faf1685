//! Looking a service up by the name a command or request gave, with the one answer every
//! interface gives when gantry.yaml has no such service.

use crate::{Config, Service, Spanned};

/// A service name gantry.yaml does not define; the message lists the ones it does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no service '{name}' in gantry.yaml; services: {known}")]
pub struct UnknownService {
    pub name: String,
    known: String,
}

impl Config {
    /// The service called `name`.
    pub fn service(&self, name: &str) -> Result<&Spanned<Service>, UnknownService> {
        self.services.get(name).ok_or_else(|| UnknownService {
            name: name.to_string(),
            known: if self.services.is_empty() {
                "(none)".to_string()
            } else {
                self.services.keys().cloned().collect::<Vec<_>>().join(", ")
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unknown_service_is_named_with_the_known_ones() {
        let config = crate::parse(
            "gantry.yaml",
            "project: p\nservices:\n  web: { listen: 127.0.0.1:8080, releases: { v1: { run: x } } }\n  api: { listen: 127.0.0.1:8081, releases: { v1: { run: x } } }\n",
        )
        .unwrap();
        assert!(config.service("web").is_ok());
        assert_eq!(
            config.service("wbe").unwrap_err().to_string(),
            "no service 'wbe' in gantry.yaml; services: api, web"
        );
        let empty = crate::parse("gantry.yaml", "project: p\n").unwrap();
        assert_eq!(
            empty.service("web").unwrap_err().to_string(),
            "no service 'web' in gantry.yaml; services: (none)"
        );
    }
}
