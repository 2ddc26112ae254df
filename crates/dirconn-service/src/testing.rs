//! For the crate's own tests: a service over a configuration without plugins (its domains disabled) and a
//! SQLite store in the configuration's folder.

use std::{path::Path, sync::Arc};

use dirconn_host::{Host, HostConfig, PluginRegistry};

use crate::{Service, ServiceConfig, audit, core::Live, metrics::Metrics};

/// A service over the configuration `text`, written as if it were `dir/dirconn.toml`.
pub(crate) async fn service(dir: &Path, text: &str) -> Arc<Service> {
    let config = HostConfig::parse(&dir.join("dirconn.toml"), text).unwrap();
    let host = Host::new(config, PluginRegistry { loaded: vec![], refused: vec![] }).unwrap();
    let config = ServiceConfig::from_table(&host.config().service, &host.config().dir).unwrap();
    let store = host.open_store().await.unwrap();
    let metrics = Arc::new(Metrics::default());
    let sink = {
        let store = store.clone();
        audit::start(metrics.clone(), move || store.clone())
    };
    Arc::new(Service::new(Live { host, store, config }, metrics, sink))
}
