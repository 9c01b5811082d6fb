//! The cluster connection: kubeconfig handling like kubectl, a request window that follows the
//! server's answers (with bounded retries of overload answers), a breaker that stops asking a
//! server that stopped answering, and discovery cached on disk.

mod breaker;
mod capabilities;
mod discovery;
mod impersonate;
mod limiter;
pub mod refusal;
mod retry;
mod send;
pub mod stop;
mod trace;
/// The log target `-v=6` tells each request under (see `trace`).
pub use trace::TARGET as TRACE_TARGET;

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};

pub use breaker::NotAttempted;
pub use capabilities::ServedApis;
pub use discovery::{Discovery, Resolved};
pub use limiter::RequestBudget;
use send::Sender;

/// How to reach the cluster; defaults match kubectl.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    /// Requests in flight at most: the ceiling of the window that follows the server.
    pub concurrency: usize,
    /// An explicit cap on requests per second (`--qps`); None: the server's answers alone
    /// set the pace.
    pub qps: Option<NonZeroU32>,
    /// Requests allowed above `qps` in a burst (with `qps` only).
    pub burst: Option<NonZeroU32>,
    /// Where discovery is cached (None: no disk cache).
    pub cache_dir: Option<PathBuf>,
    /// `--request-timeout`: how long connecting and each answer may take (zero: no limit;
    /// None: `CONNECT_TIMEOUT` and `READ_TIMEOUT`).
    pub request_timeout: Option<Duration>,
    /// kubectl's `-v` level: at 6 every request is told on stderr, at 8 with its body.
    pub verbosity: u8,
}

/// Connecting (TCP and TLS) may take this long unless `--request-timeout` says otherwise.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The server may stay silent this long within one request unless `--request-timeout` says
/// otherwise: a server that accepts and never answers fails the command instead of hanging.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            kubeconfig: None,
            context: None,
            namespace: None,
            concurrency: 32,
            qps: None,
            burst: None,
            cache_dir: default_cache_dir(),
            request_timeout: None,
            verbosity: 0,
        }
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KUBECTL_GITOPS_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("kubectl-gitops"))
}

/// A connected cluster: client, the context's identity and the shared request budget.
#[derive(Clone)]
pub struct Cluster {
    /// For requests outside [`Cluster::send`] (watches, the Lease, Events, status): kube's
    /// typed API, with a short bounded retry of overload answers instead of kube's default
    /// (15 retries, minutes long).
    pub client: kube::Client,
    /// The kubeconfig context in use (shown in prompts and reports).
    pub context: String,
    /// The API server URL.
    pub server: String,
    /// Namespace for namespaced objects that name none: `--namespace`, else the context's.
    pub default_namespace: String,
    pub discovery: Arc<Discovery>,
    sender: Arc<Sender>,
    /// The last reading of what the cluster serves (see `capabilities`).
    served_apis: Arc<capabilities::Memo>,
    /// What the client was built from, for [`Cluster::impersonating`].
    config: Arc<kube::Config>,
    /// The one client (and connection pool) every impersonating client sends through, made
    /// on first use: impersonation is a header, not a connection.
    impersonation: Arc<std::sync::OnceLock<kube::Client>>,
}

impl Cluster {
    /// Connects as kubectl would: `--kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`;
    /// `--context`, else the current context. No request is made yet.
    pub async fn connect(options: &ClusterOptions) -> Result<Cluster> {
        let kube_options = KubeConfigOptions {
            context: options.context.clone(),
            ..KubeConfigOptions::default()
        };
        let (mut config, context) = match &options.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path)
                    .with_context(|| format!("reading kubeconfig {}", path.display()))?;
                known_context(&kubeconfig, &options.context)?;
                let context = chosen_context(&kubeconfig, &options.context);
                let config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube_options)
                    .await
                    .with_context(|| format!("loading kubeconfig {}", path.display()))?;
                (config, context)
            }
            None if Kubeconfig::read().is_err() && in_cluster() => {
                // A pod without a kubeconfig: its service account, like kubectl in a pod.
                let config = kube::Config::incluster()
                    .context("loading the in-cluster service account configuration")?;
                (config, "in-cluster".to_string())
            }
            None => {
                let kubeconfig = Kubeconfig::read().context(
                    "no kubeconfig found: set KUBECONFIG or pass --kubeconfig FILE \
                     (kubectl's ~/.kube/config is used when present)",
                )?;
                known_context(&kubeconfig, &options.context)?;
                let context = chosen_context(&kubeconfig, &options.context);
                let config = kube::Config::from_kubeconfig(&kube_options)
                    .await
                    .context("loading kubeconfig")?;
                (config, context)
            }
        };
        let (connect, read) = match options.request_timeout {
            None => (Some(CONNECT_TIMEOUT), Some(READ_TIMEOUT)),
            Some(Duration::ZERO) => (None, None),
            Some(limit) => (Some(limit), Some(limit)),
        };
        config.connect_timeout = connect;
        config.read_timeout = read;
        // Count from when a request is sent, not from when its pooled connection went idle.
        config.reset_reader_on_write = true;
        // Our own request path retries overload answers, boundedly (see `retry`); kube's
        // default would retry a 503 for minutes.
        config.default_retry = false;
        learn_credentials(&config);
        let server = crate::scrub::url(&config.cluster_url.to_string());
        let default_namespace = options
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let trace = trace::TraceLayer {
            level: options.verbosity,
            server: server.clone(),
        };
        let unretried = plain_client(config.clone(), trace.clone())
            .with_context(|| format!("creating a client for {server}"))?;
        let client = retrying_client(config.clone(), trace.clone())
            .with_context(|| format!("creating a client for {server}"))?;
        let rate = options
            .qps
            .map(|qps| (qps, options.burst.unwrap_or(qps).max(qps)));
        let budget = Arc::new(RequestBudget::new(options.concurrency, rate));
        let sender = Arc::new(Sender::new(unretried, budget, &server));
        let discovery = Arc::new(Discovery::new(
            sender.clone(),
            options.cache_dir.as_ref().map(|d| d.join("discovery")),
            &server,
        ));
        Ok(Cluster {
            client,
            context,
            server,
            default_namespace,
            discovery,
            sender,
            served_apis: Arc::default(),
            config: Arc::new(config),
            impersonation: Arc::default(),
        })
    }

    /// The same cluster with every request made as `user` (Kubernetes impersonation: the
    /// server authorises each request as that user, so it can do no more than they may),
    /// namespace-less objects going to `default_namespace`. Discovery, the request budget and
    /// the breaker stay shared: they describe the server, not who asks.
    pub fn impersonating(&self, user: &str, default_namespace: &str) -> Result<Cluster> {
        let mut config = (*self.config).clone();
        config.auth_info.impersonate = Some(user.to_string());
        config.auth_info.impersonate_groups = None;
        let context = || format!("creating a client for {} as {user}", self.server);
        let shared = self.shared_pool().with_context(context)?;
        let user_header = http::HeaderValue::from_str(user)
            .with_context(|| format!("impersonating {user:?}: not a valid header value"))?;
        let unretried = kube::Client::new(
            impersonate::As::new(shared.clone(), user_header.clone()),
            default_namespace,
        );
        let client = kube::Client::new(
            retrying(impersonate::As::new(shared, user_header)),
            default_namespace,
        );
        Ok(Cluster {
            client,
            default_namespace: default_namespace.to_string(),
            sender: Arc::new(self.sender.sending_with(unretried)),
            config: Arc::new(config),
            ..self.clone()
        })
    }

    /// What this connection was built from: its server and identity (impersonation
    /// included), for a tool that must ask the same server as the same caller (Helm's
    /// `lookup`, see `render::target`).
    pub fn connection_config(&self) -> Arc<kube::Config> {
        self.config.clone()
    }

    /// The client (and bounded connection pool) impersonating clients send through.
    fn shared_pool(&self) -> Result<kube::Client, kube::Error> {
        if let Some(shared) = self.impersonation.get() {
            return Ok(shared.clone());
        }
        let shared = impersonate::shared_client((*self.config).clone())?;
        Ok(self.impersonation.get_or_init(|| shared).clone())
    }

    /// The same cluster sending through the pool its impersonating clients share, so a
    /// process acting as many accounts (the controller) holds one bounded pool for its own
    /// requests and theirs. A kubeconfig that impersonates keeps its own clients.
    pub fn pooled(&self) -> Result<Cluster> {
        let auth = &self.config.auth_info;
        if auth.impersonate.is_some()
            || auth.impersonate_uid.is_some()
            || auth.impersonate_groups.is_some()
            || auth.impersonate_user_extra.is_some()
        {
            return Ok(self.clone());
        }
        let shared = self
            .shared_pool()
            .with_context(|| format!("creating a client for {}", self.server))?;
        let namespace = self.default_namespace.clone();
        let unretried = kube::Client::new(impersonate::As::itself(shared.clone()), &*namespace);
        let client = kube::Client::new(retrying(impersonate::As::itself(shared)), &*namespace);
        Ok(Cluster {
            client,
            sender: Arc::new(self.sender.sending_with(unretried)),
            ..self.clone()
        })
    }

    /// Sends one request within the shared request window, retrying overload answers a
    /// bounded number of times. Once the server has stopped answering, the request is not
    /// sent and fails with [`NotAttempted`] (see the breaker module).
    pub async fn send<T>(&self, request: http::Request<Vec<u8>>) -> Result<T, kube::Error>
    where
        T: serde::de::DeserializeOwned,
    {
        self.send_answer(request).await.map(|(_, body)| body)
    }

    /// [`Cluster::send`], with the success's status code (201 Created, 200 OK).
    pub async fn send_answer<T>(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<(http::StatusCode, T), kube::Error>
    where
        T: serde::de::DeserializeOwned,
    {
        let answer = self.sender.send(request).await?;
        let body = serde_json::from_slice(&answer.body).map_err(kube::Error::SerdeError)?;
        Ok((answer.status, body))
    }

    /// One object as the server has it, through [`Cluster::send`]; None when it does not exist.
    pub async fn get_object(
        &self,
        resource: &kube::core::ApiResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<serde_json::Value>, kube::Error> {
        use kube::core::{DynamicObject, Request, Resource};
        let request = Request::new(DynamicObject::url_path(resource, namespace))
            .get(name, &Default::default())
            .map_err(kube::Error::BuildRequest)?;
        match self.send(request).await {
            Ok(object) => Ok(Some(object)),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The shared request window.
    pub fn budget(&self) -> &RequestBudget {
        &self.sender.budget
    }
}

/// A client for kube's typed API whose retries of overload answers (429, 503, 504) are few and
/// short: a Lease renewal or a status write fails within seconds and is tried again by its own
/// loop, instead of being held for minutes.
fn retrying_client(
    config: kube::Config,
    trace: trace::TraceLayer,
) -> Result<kube::Client, kube::Error> {
    let builder = kube::client::ClientBuilder::try_from(config)?;
    // Retrying needs a service it can clone; the buffer makes kube's boxed one so.
    let layers = tower::ServiceBuilder::new()
        .layer(tower::retry::RetryLayer::new(retry_policy()))
        .layer(tower::buffer::BufferLayer::new(1024))
        .layer(trace);
    Ok(builder.with_layer(&layers).build())
}

/// A client that retries nothing itself (the request path has its own bounded retry).
fn plain_client(
    config: kube::Config,
    trace: trace::TraceLayer,
) -> Result<kube::Client, kube::Error> {
    let builder = kube::client::ClientBuilder::try_from(config)?;
    Ok(builder.with_layer(&trace).build())
}

/// How [`Cluster::client`] retries overload answers: briefly and boundedly.
fn retry_policy() -> kube::client::retry::RetryPolicy {
    kube::client::retry::RetryPolicy::new(
        Duration::from_millis(200),
        Duration::from_secs(2),
        3,
        true,
    )
    .expect("valid retry parameters")
}

/// `service` with [`Cluster::client`]'s retries.
fn retrying(
    service: impersonate::As,
) -> impl tower::Service<
    http::Request<kube::client::Body>,
    Response = http::Response<kube::client::Body>,
    Error = tower::BoxError,
    Future = impl Send + 'static,
> + Send
+ 'static {
    tower::ServiceBuilder::new()
        .layer(tower::retry::RetryLayer::new(retry_policy()))
        .service(service)
}

/// What the kubeconfig authenticates with is never printed, wherever a message quotes it.
fn learn_credentials(config: &kube::Config) {
    use secrecy::ExposeSecret;
    let auth = &config.auth_info;
    for secret in [&auth.token, &auth.password, &auth.client_key_data]
        .into_iter()
        .flatten()
    {
        crate::scrub::learn_credential(secret.expose_secret());
    }
    if let (Some(user), Some(password)) = (&auth.username, &auth.password) {
        crate::scrub::learn_basic_auth(user, password.expose_secret());
    }
    if let Some(userinfo) = config.cluster_url.authority().map(|a| a.as_str())
        && let Some((info, _)) = userinfo.rsplit_once('@')
    {
        crate::scrub::learn_credential(info);
        if let Some((_, password)) = info.split_once(':') {
            crate::scrub::learn_credential(password);
        }
    }
}

/// A request that got no answer from the server, in words naming it (see
/// [`transport_failure`]); what [`Cluster::send`] returns for every transport failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoAnswer(pub String);

/// Running in a pod: the service host variable and the mounted token are both there.
fn in_cluster() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
        && std::path::Path::new("/var/run/secrets/kubernetes.io/serviceaccount/token").is_file()
}

/// `--context` names a context the kubeconfig does not have.
#[derive(Debug, thiserror::Error)]
#[error("the kubeconfig has no context named \"{name}\"")]
pub struct UnknownContext {
    pub name: String,
    /// The contexts it has, in its order.
    pub known: Vec<String>,
}

fn known_context(kubeconfig: &Kubeconfig, flag: &Option<String>) -> Result<(), UnknownContext> {
    let Some(name) = flag else { return Ok(()) };
    let known: Vec<String> = kubeconfig.contexts.iter().map(|c| c.name.clone()).collect();
    if known.contains(name) {
        return Ok(());
    }
    Err(UnknownContext {
        name: name.clone(),
        known,
    })
}

fn chosen_context(kubeconfig: &Kubeconfig, flag: &Option<String>) -> String {
    flag.clone()
        .or_else(|| kubeconfig.current_context.clone())
        .unwrap_or_default()
}

/// A request that got no answer from the server at all, in words naming the server: it timed
/// out (see `--request-timeout`), or the connection was refused or cut. None for anything
/// else, such as the server's own refusals (`kube::Error::Api`).
pub fn transport_failure(err: &kube::Error, server: &str) -> Option<String> {
    if matches!(err, kube::Error::Api(_)) {
        return None;
    }
    // Every layer of the chain is looked at, and the most telling reason wins: a read that
    // timed out shows up further down than the connection hyper then calls cancelled.
    let mut best: Option<Reason> = None;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if let Some(gone) = cause.downcast_ref::<NotAttempted>() {
            return Some(gone.to_string());
        }
        if let Some(said) = cause.downcast_ref::<NoAnswer>() {
            return Some(said.0.clone());
        }
        if let Some(reason) = Reason::of(cause) {
            best = Some(best.map_or(reason, |b| b.min(reason)));
        }
        source = cause.source();
    }
    best.map(|reason| format!("no answer from {server}: {}", reason.words()))
}

/// Why a request got no answer, most telling first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Reason {
    TimedOut,
    ConnectTimedOut,
    Refused,
    CutOff,
}

impl Reason {
    fn of(cause: &(dyn std::error::Error + 'static)) -> Option<Reason> {
        use std::io::ErrorKind as Kind;
        let said = |text: &str| cause.to_string().contains(text);
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                Kind::TimedOut => return Some(Reason::TimedOut),
                Kind::ConnectionRefused => return Some(Reason::Refused),
                // A TLS connection ended without close_notify surfaces as UnexpectedEof.
                Kind::ConnectionReset
                | Kind::ConnectionAborted
                | Kind::BrokenPipe
                | Kind::UnexpectedEof
                | Kind::NotConnected => return Some(Reason::CutOff),
                _ => {}
            }
        }
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
            if hyper.is_timeout() {
                return Some(Reason::TimedOut);
            }
            if hyper.is_incomplete_message() || hyper.is_closed() || hyper.is_canceled() {
                return Some(Reason::CutOff);
            }
        }
        // Some layers (TLS, the connector) carry the I/O error only in their message.
        if said("deadline has elapsed") {
            Some(Reason::ConnectTimedOut)
        } else if said("Connection refused") {
            Some(Reason::Refused)
        } else if said("Connection reset")
            || said("Broken pipe")
            || said("connection closed")
            || said("close_notify")
            || said("unexpected EOF")
            || said("connection error")
        {
            Some(Reason::CutOff)
        } else {
            None
        }
    }

    fn words(self) -> &'static str {
        match self {
            Reason::TimedOut => {
                "timed out waiting for an answer (--request-timeout sets the limit)"
            }
            Reason::ConnectTimedOut => "timed out connecting (--request-timeout sets the limit)",
            Reason::Refused => "connection refused: is the API server running?",
            Reason::CutOff => "the connection was cut off",
        }
    }
}

/// A failed request: the line a report shows, and whether it was never sent at all.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub message: String,
    /// The request was not sent because the server had stopped answering (the breaker's
    /// reason): reports say that once instead of once per object.
    pub not_attempted: Option<NotAttempted>,
}

impl Failure {
    pub fn of(err: &kube::Error, server: &str) -> Self {
        Failure {
            message: describe(err, server),
            not_attempted: not_attempted(err),
        }
    }

    /// A failure before any request could be made (one that could not be built).
    pub fn local(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            not_attempted: None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The breaker's refusal, when that is why the request failed.
pub fn not_attempted(err: &kube::Error) -> Option<NotAttempted> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if let Some(gone) = cause.downcast_ref::<NotAttempted>() {
            return Some(gone.clone());
        }
        source = cause.source();
    }
    None
}

/// A failed request as one readable line, for a report naming the object: no answer at all is
/// said plainly naming the server; a refusal is the server's own message; anything else is the
/// error with its causes.
pub fn describe(err: &kube::Error, server: &str) -> String {
    if let Some(reason) = transport_failure(err, server) {
        return reason;
    }
    if let kube::Error::Api(status) = err {
        return refusal::explain(status);
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// [`describe`] for a request made outside [`Cluster::send`] (the Lease, Events), where the
/// server's URL is not at hand.
pub fn describe_unnamed(err: &kube::Error) -> String {
    describe(err, "the API server")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    fn failure(kind: ErrorKind, text: &str) -> Option<String> {
        let err = kube::Error::Service(Box::new(Error::new(kind, text.to_string())));
        transport_failure(&err, "https://127.0.0.1:6443/")
    }

    #[test]
    fn no_answer_is_said_plainly_naming_the_server() {
        let timed_out = failure(ErrorKind::TimedOut, "deadline has elapsed").unwrap();
        assert!(timed_out.starts_with("no answer from https://127.0.0.1:6443/: timed out"));
        assert!(timed_out.contains("--request-timeout"));
        let refused = failure(ErrorKind::ConnectionRefused, "refused").unwrap();
        assert!(refused.contains("connection refused"), "{refused}");
        let reset = failure(ErrorKind::ConnectionReset, "reset").unwrap();
        assert!(reset.contains("cut off"), "{reset}");
    }

    #[test]
    fn a_described_failure_is_the_plain_line_or_the_servers_message() {
        let refused = kube::Error::Service(Box::new(Error::new(
            ErrorKind::ConnectionRefused,
            "client error (Connect): tcp connect error: Connection refused (os error 111)",
        )));
        assert_eq!(
            describe(&refused, "https://x/"),
            "no answer from https://x/: connection refused: is the API server running?"
        );
        let status = kube::core::Status::failure("quota exceeded", "Forbidden").with_code(403);
        assert_eq!(
            describe(&kube::Error::Api(Box::new(status)), "https://x/"),
            "quota exceeded"
        );
        let other = kube::Error::Service(Box::new(Error::new(ErrorKind::InvalidData, "bad cert")));
        assert!(describe(&other, "https://x/").contains("bad cert"));
    }

    /// How a connection cut mid-TLS reaches us: the client's error, hyper's below it, and the
    /// TLS layer's I/O error at the bottom of the chain.
    #[derive(Debug)]
    struct Layer(&'static str, Box<dyn std::error::Error + Send + Sync>);
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(self.1.as_ref())
        }
    }

    #[test]
    fn a_connection_cut_mid_tls_is_no_answer_at_any_depth() {
        let eof = Error::new(
            ErrorKind::UnexpectedEof,
            "peer closed connection without sending TLS close_notify",
        );
        let chain = Layer(
            "client error (SendRequest)",
            Box::new(Layer("", Box::new(eof))),
        );
        let err = kube::Error::Service(Box::new(chain));
        let said = transport_failure(&err, "https://127.0.0.1:6443/").expect("classified");
        assert_eq!(
            said,
            "no answer from https://127.0.0.1:6443/: the connection was cut off"
        );
        assert_eq!(describe(&err, "https://127.0.0.1:6443/"), said);
        // The same words when only the message carries it.
        let flat = failure(
            ErrorKind::Other,
            "peer closed connection without sending TLS close_notify",
        );
        assert_eq!(flat.as_deref(), Some(said.as_str()));
    }

    #[test]
    fn a_classified_failure_reads_the_same_wherever_it_is_shown() {
        let said = "no answer from https://x/: the connection was cut off".to_string();
        let err = kube::Error::Service(Box::new(NoAnswer(said.clone())));
        assert_eq!(
            transport_failure(&err, "https://other/"),
            Some(said.clone())
        );
        assert_eq!(describe(&err, "https://other/"), said);
    }

    #[test]
    fn a_timeout_below_a_cut_connection_is_said_as_a_timeout() {
        let timeout = Error::new(ErrorKind::TimedOut, "read timed out");
        let chain = Layer(
            "connection closed before message completed",
            Box::new(timeout),
        );
        let err = kube::Error::Service(Box::new(chain));
        let said = transport_failure(&err, "https://x/").unwrap();
        assert!(said.contains("timed out waiting"), "{said}");
    }

    #[test]
    fn other_failures_are_left_to_the_caller() {
        assert_eq!(failure(ErrorKind::InvalidData, "bad certificate"), None);
        let status = kube::core::Status::failure("forbidden", "Forbidden").with_code(403);
        let api = kube::Error::Api(Box::new(status));
        assert_eq!(transport_failure(&api, "https://x/"), None);
    }
}
