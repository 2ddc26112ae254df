//! [`Host`]: the configured domains with their connector instances, and routing of logins.

use std::net::IpAddr;

use abi_stable::std_types::{RString, RVec};
use dirconn_abi::{
    AttributeReport, AuthRequest, ClientContext, ConnectorBox, ConnectorConfig, ConnectorError, ErrorKind,
    FilterReport, NamedValue, PasswordRequest, SyncRequest, SyncStreamBox, TestReport, TestRequest, UserEntry,
};

use crate::{AccountPolicy, Error, HostConfig, PluginRegistry, log_sink};

/// One configured mail domain.
pub struct Domain {
    /// The mail domain (`example.org`).
    pub name: String,
    /// The connector kind.
    pub kind: String,
    /// A name for people.
    pub display_name: String,
    /// The plugin serving it (its name).
    pub plugin: String,
    /// How its users become accounts.
    pub policy: AccountPolicy,
    /// Other login suffixes routed here with the suffix kept (`login_suffixes`).
    pub login_suffixes: Vec<String>,
    /// The userdb template handed to mail servers.
    pub userdb: crate::userdb::Userdb,
    /// Local IP addresses bound to this domain (`bind_ip`): logins without `@domain` arriving there are its.
    pub bind_ip: Vec<IpAddr>,
    /// The directory's lockout where configured (`[domain.lockout]`).
    pub lockout: crate::lockout::LockoutConfig,
    connector: Option<ConnectorBox>,
}

impl std::fmt::Debug for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Domain")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("plugin", &self.plugin)
            .field("enabled", &self.enabled())
            .finish()
    }
}

/// Where a login goes: the domain and the login within it.
#[derive(Debug, Clone, Copy)]
pub struct Route<'h, 'l> {
    /// The domain.
    pub domain: &'h Domain,
    /// The login without `@domain`.
    pub login: &'l str,
}

/// The host: plugins, configuration and one connector instance per enabled domain.
#[derive(Debug)]
pub struct Host {
    config: HostConfig,
    registry: PluginRegistry,
    domains: Vec<Domain>,
}

impl Host {
    /// Reads the configuration, loads the plugins of its drop-in directory (or `plugin_dir`), and builds
    /// every enabled domain's connector, validating its settings.
    pub fn load(config_path: &std::path::Path, plugin_dir: Option<&std::path::Path>) -> Result<Host, Error> {
        let mut config = HostConfig::load(config_path)?;
        if let Some(dir) = plugin_dir {
            config.plugin_dir = dir.to_owned();
        }
        let registry = PluginRegistry::load_dir(&config.plugin_dir, log_sink())?;
        Host::new(config, registry)
    }

    /// Builds the domains' connectors from a configuration and loaded plugins.
    pub fn new(config: HostConfig, registry: PluginRegistry) -> Result<Host, Error> {
        let mut domains = Vec::with_capacity(config.domains.len());
        for d in &config.domains {
            let plugin = registry.by_kind(&d.connector).ok_or_else(|| Error::UnknownConnector {
                path: config.path.clone(),
                domain: d.name.clone(),
                kind: d.connector.clone(),
                available: registry.kinds(),
            })?;
            let connector = if d.enabled {
                let settings_json = serde_json::to_string(&d.settings).unwrap_or_else(|_| "{}".to_owned());
                let built = (plugin.module.new_connector())(ConnectorConfig {
                    domain: d.name.as_str().into(),
                    kind: d.connector.as_str().into(),
                    settings_json: settings_json.into(),
                    config_dir: config.dir.to_string_lossy().as_ref().into(),
                });
                Some(built.into_result().map_err(|error| Error::DomainSetup {
                    path: config.path.clone(),
                    domain: d.name.clone(),
                    error: Box::new(error),
                })?)
            } else {
                None
            };
            domains.push(Domain {
                name: d.name.clone(),
                kind: d.connector.clone(),
                display_name: d.display_name.clone(),
                plugin: plugin.metadata.name.to_string(),
                policy: {
                    let mut policy = d.policy.clone();
                    let default = (plugin.module.default_mapping())(d.connector.as_str().into());
                    policy.mapping = policy.mapping.with_defaults(&default);
                    policy
                },
                login_suffixes: d.login_suffixes.clone(),
                userdb: d.userdb.clone(),
                bind_ip: d.bind_ip.clone(),
                lockout: d.lockout,
                connector,
            });
        }
        Ok(Host { config, registry, domains })
    }

    /// The configuration in force.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// The loaded and refused plugins.
    pub fn registry(&self) -> &PluginRegistry {
        &self.registry
    }

    /// The configured domains, in file order.
    pub fn domains(&self) -> &[Domain] {
        &self.domains
    }

    /// A domain by name (case-insensitive).
    pub fn domain(&self, name: &str) -> Result<&Domain, Error> {
        self.domains.iter().find(|d| d.name.eq_ignore_ascii_case(name)).ok_or_else(|| Error::UnknownDomain {
            domain: name.to_owned(),
            known: self.domains.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }

    /// Routes `user@domain` to its domain (the connector gets `user`); `user@suffix` to the domain listing
    /// the suffix in `login_suffixes` (the connector gets the whole login, e.g. an AD UPN); a login
    /// without a domain goes to `default_domain`, or to the one domain when only one is configured.
    /// The same as [`Host::route_at`] with no local address.
    pub fn route<'h, 'l>(&'h self, login: &'l str) -> Result<Route<'h, 'l>, Error> {
        self.route_at(login, None)
    }

    /// Routes a login that arrived at `local_ip` (the address of this host the client connected to):
    /// `user@domain` and `user@suffix` as [`Host::route`]; a login without a domain goes to the domain whose
    /// `bind_ip` lists the address (an IPv4-mapped IPv6 address matches its IPv4 form), else to
    /// `default_domain`, or to the one domain when only one is configured.
    pub fn route_at<'h, 'l>(&'h self, login: &'l str, local_ip: Option<IpAddr>) -> Result<Route<'h, 'l>, Error> {
        if let Some((user, suffix)) = login.rsplit_once('@') {
            let unknown = match self.domain(suffix) {
                Ok(domain) => return Ok(Route { domain, login: user }),
                Err(unknown) => unknown,
            };
            if let Some(domain) =
                self.domains.iter().find(|d| d.login_suffixes.iter().any(|s| s.eq_ignore_ascii_case(suffix)))
            {
                return Ok(Route { domain, login });
            }
            return Err(unknown);
        }
        if let Some(ip) = local_ip.map(|ip| ip.to_canonical())
            && let Some(domain) = self.domains.iter().find(|d| d.bind_ip.contains(&ip))
        {
            return Ok(Route { domain, login });
        }
        let domain = match (&self.config.default_domain, self.domains.as_slice()) {
            (Some(default), _) => self.domain(default)?,
            (None, [only]) => only,
            _ => return Err(Error::NoDomain { login: login.to_owned() }),
        };
        Ok(Route { domain, login })
    }

    /// Logs a user in: routes the login, then has the domain's connector check it.
    pub async fn login(
        &self,
        login: &str,
        password: &str,
        client: ClientContext,
    ) -> Result<(&Domain, UserEntry), Error> {
        let route = self.route(login)?;
        let user = route.domain.authenticate(route.login, password, client).await?;
        Ok((route.domain, user))
    }
}

impl Domain {
    /// Whether the domain serves logins.
    pub fn enabled(&self) -> bool {
        self.connector.is_some()
    }

    fn connector(&self) -> Result<&ConnectorBox, Error> {
        self.connector.as_ref().ok_or_else(|| Error::DomainDisabled { domain: self.name.clone() })
    }

    fn fail(&self, error: ConnectorError) -> Error {
        Error::Connector { domain: self.name.clone(), error: Box::new(error) }
    }

    /// Checks a login (without `@domain`) and password. An empty password is refused here, before the
    /// plugin or the network is involved.
    pub async fn authenticate(&self, login: &str, password: &str, client: ClientContext) -> Result<UserEntry, Error> {
        if password.is_empty() {
            return Err(self.empty_password());
        }
        let login = self.own_login(login);
        let request = AuthRequest { login: login.into(), password: password.into(), client };
        self.connector()?.authenticate(request).await.into_result().map_err(|e| self.fail(e))
    }

    /// A login as this domain's connector takes it: `alice@example.org` given to the domain `example.org`
    /// is `alice`, as the same login routed by [`Host::route`] would be; any other login is unchanged.
    pub fn own_login<'l>(&self, login: &'l str) -> &'l str {
        match login.rsplit_once('@') {
            Some((user, domain)) if !user.is_empty() && domain.eq_ignore_ascii_case(&self.name) => user,
            _ => login,
        }
    }

    /// Runs the staged connection test, optionally looking a user up and binding as them.
    pub async fn test_connection(&self, login: Option<&str>, password: Option<&str>) -> Result<TestReport, Error> {
        let login = login.map(|l| self.own_login(l));
        let request =
            TestRequest { login: login.map(RString::from).into(), password: password.map(RString::from).into() };
        Ok(self.connector()?.test_connection(request).await)
    }

    /// Finds a user by login with the service account.
    pub async fn lookup(&self, login: &str) -> Result<UserEntry, Error> {
        self.connector()?.lookup_user(self.own_login(login).into()).await.into_result().map_err(|e| self.fail(e))
    }

    /// Lists the schema's attribute names and a sample user's attributes.
    pub async fn attributes(&self) -> Result<AttributeReport, Error> {
        self.connector()?.discover_attributes().await.into_result().map_err(|e| self.fail(e))
    }

    /// The base, scope and filters the connector uses, and the host's narrowing of the sync.
    pub fn filter(&self) -> Result<FilterReport, Error> {
        let mut report = self.connector()?.effective_filter();
        if self.policy.only_mapped_groups {
            let groups: Vec<&str> = self.policy.groups.map.keys().map(String::as_str).collect();
            report.items.push(NamedValue {
                name: "sync_narrowed_to".into(),
                value: format!("members (nested included) of: {}", groups.join("; ")).into(),
            });
        }
        Ok(report)
    }

    /// Changes a user's password (`old` given: as the user) or resets it with the service account (ABI 3).
    /// Empty passwords are refused here, before the plugin or the network is involved.
    pub async fn set_password(&self, login: &str, old: Option<&str>, new: &str) -> Result<(), Error> {
        if new.is_empty() || old == Some("") {
            return Err(self.empty_password());
        }
        let request = PasswordRequest {
            login: login.into(),
            old_password: old.map(RString::from).into(),
            new_password: new.into(),
        };
        self.connector()?.set_password(request).await.into_result().map_err(|e| self.fail(e))
    }

    /// The directory's lockout policy in force: `[domain.lockout]` over what the plugin reads from the
    /// directory (ABI 5). A plugin without the operation gives the configured keys alone; a directory that
    /// cannot be reached is an error (ask again later).
    pub async fn lockout_policy(&self) -> Result<dirconn_abi::LockoutPolicy, Error> {
        if self.lockout.threshold.is_some() && self.lockout.window.is_some() {
            return Ok(self.lockout.apply(None));
        }
        match self.connector()?.lockout_policy().await.into_result() {
            Ok(read) => Ok(self.lockout.apply(Some(read))),
            Err(e) if e.kind == ErrorKind::Unsupported => Ok(self.lockout.apply(None)),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// What an end user is told when a login fails with `kind` (the documented message policy): the
    /// account's state only when the domain allows it or the directory's answer proves the password.
    pub fn end_user_message(&self, kind: ErrorKind) -> &'static str {
        crate::messages::end_user_message(kind, self.policy.reveal_account_state)
    }

    /// Starts a sync stream (ABI 2): a full pass without a cookie, else the changes since it.
    pub async fn open_sync(&self, cookie: Option<Vec<u8>>, batch_size: u32) -> Result<SyncStreamBox, Error> {
        // Only the mapped attributes and the address attributes are read (every one when both are empty).
        let mapping = &self.policy.mapping;
        let attributes = mapping
            .fields
            .iter()
            .map(|(_, attr)| attr)
            .chain(&mapping.addresses)
            .map(|a| RString::from(a.as_str()))
            .collect();
        let request = SyncRequest { cookie: cookie.map(RVec::from).into(), batch_size, attributes };
        self.connector()?.open_sync(request).await.into_result().map_err(|e| self.fail(e))
    }

    /// The refusal of an empty password (DC-201), made before any lookup or network call.
    pub(crate) fn empty_password(&self) -> Error {
        self.fail(ConnectorError::new(
            ErrorKind::InvalidInput,
            "DC-201",
            "An empty password was given; it was refused without contacting the directory.",
            "Type the password; empty passwords are never sent (they would be an unauthenticated bind, \
             which many servers accept).",
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// A host of the configuration's domains, without plugins (every domain disabled): enough to route.
    fn host(text: &str) -> Host {
        let config = HostConfig::parse(Path::new("/etc/dirconn/dirconn.toml"), text).expect("configuration");
        let domains = config
            .domains
            .iter()
            .map(|d| Domain {
                name: d.name.clone(),
                kind: d.connector.clone(),
                display_name: d.display_name.clone(),
                plugin: "none".into(),
                policy: d.policy.clone(),
                login_suffixes: d.login_suffixes.clone(),
                bind_ip: d.bind_ip.clone(),
                userdb: d.userdb.clone(),
                lockout: d.lockout,
                connector: None,
            })
            .collect();
        Host { config, registry: PluginRegistry::default(), domains }
    }

    const THREE: &str = "default_domain = \"c.org\"\n\
        [[domain]]\nname = \"a.org\"\nconnector = \"ldap\"\nbind_ip = [\"127.0.0.2\", \"2001:db8::2\"]\n\
        [[domain]]\nname = \"b.org\"\nconnector = \"ldap\"\nbind_ip = [\"127.0.0.3\"]\nlogin_suffixes = [\"corp.b.org\"]\n\
        [[domain]]\nname = \"c.org\"\nconnector = \"ldap\"\n";

    fn at(h: &Host, login: &str, ip: Option<&str>) -> Result<(String, String), Error> {
        let ip = ip.map(|s| s.parse::<IpAddr>().expect("an address"));
        h.route_at(login, ip).map(|r| (r.domain.name.clone(), r.login.to_owned()))
    }

    fn ok(domain: &str, login: &str) -> (String, String) {
        (domain.to_owned(), login.to_owned())
    }

    #[test]
    fn a_bare_login_goes_to_the_domain_bound_to_its_local_address() {
        let h = host(THREE);
        assert_eq!(at(&h, "alice", Some("127.0.0.2")).unwrap(), ok("a.org", "alice"));
        assert_eq!(at(&h, "alice", Some("::ffff:127.0.0.2")).unwrap(), ok("a.org", "alice"), "IPv4-mapped");
        assert_eq!(at(&h, "alice", Some("2001:db8::2")).unwrap(), ok("a.org", "alice"));
        assert_eq!(at(&h, "alice", Some("127.0.0.3")).unwrap(), ok("b.org", "alice"));
        // Unbound addresses and no address: the default domain.
        assert_eq!(at(&h, "alice", Some("127.0.0.9")).unwrap(), ok("c.org", "alice"));
        assert_eq!(at(&h, "alice", Some("2001:db8::3")).unwrap(), ok("c.org", "alice"));
        assert_eq!(at(&h, "alice", None).unwrap(), ok("c.org", "alice"));
        let r = h.route("alice").unwrap();
        assert_eq!((r.domain.name.as_str(), r.login), ("c.org", "alice"));
    }

    #[test]
    fn a_login_with_a_domain_ignores_the_local_address() {
        let h = host(THREE);
        assert_eq!(at(&h, "alice@b.org", Some("127.0.0.2")).unwrap(), ok("b.org", "alice"));
        assert_eq!(at(&h, "alice@C.org", Some("127.0.0.2")).unwrap(), ok("c.org", "alice"));
        assert_eq!(at(&h, "alice@corp.b.org", Some("127.0.0.2")).unwrap(), ok("b.org", "alice@corp.b.org"));
        let err = at(&h, "alice@other.org", Some("127.0.0.2")).unwrap_err();
        assert_eq!(err.code(), "DC-010", "an unknown domain is not rerouted by address: {err}");
    }

    #[test]
    fn a_bound_address_routes_where_no_default_domain_is() {
        let h = host(
            "[[domain]]\nname = \"a.org\"\nconnector = \"ldap\"\nbind_ip = [\"::ffff:10.1.2.3\"]\n\
             [[domain]]\nname = \"b.org\"\nconnector = \"ldap\"\n",
        );
        assert_eq!(at(&h, "alice", Some("10.1.2.3")).unwrap(), ok("a.org", "alice"));
        assert_eq!(at(&h, "alice", Some("::ffff:10.1.2.3")).unwrap(), ok("a.org", "alice"));
        assert_eq!(at(&h, "alice", Some("10.1.2.4")).unwrap_err().code(), "DC-011");
        assert_eq!(at(&h, "alice", None).unwrap_err().code(), "DC-011");
    }
}
