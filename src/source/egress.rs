//! The one way out for fetches in a confined process: an HTTP proxy on loopback that helm
//! (`HTTPS_PROXY`, `HTTP_PROXY`) and the git transport over http(s) are pointed at, which
//! resolves each host itself, checks every address against the process's policy (`address`),
//! and connects to the checked address. What a URL check before the fetch cannot see goes through here: redirects, the
//! chart URLs of a repository's `index.yaml`, a registry's token realm, a name that resolves
//! to a public address once and an internal one the next time.
//!
//! helm (Go) skips any proxy for `localhost` and loopback literals, and a redirect inside an
//! https tunnel is out of this proxy's sight: in the controller, chart repositories and OCI
//! registries are therefore read by our own client instead (`render::helm::download`,
//! `render::helm::registry`), which checks every hop, and helm fetches nothing. A plain-http
//! redirect is still checked here before the client sees it (the redirect's target is refused
//! as the request itself would be).
//!
//! A refusal is answered `403` with the reason as the status text, which helm repeats in its
//! error; the reasons given lately are remembered (`refusal_in`), so that a message built from
//! helm's or git's output can repeat our words and nothing else of it. Nothing the far server
//! says is ever read by this module, only relayed.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::address::{self, Fetch, Policy};

/// The longest request head a client may send.
const MAX_HEAD: usize = 64 * 1024;
/// Connecting to a checked address may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A relay with nothing moving for this long is ended (helm's own deadline is longer only
/// for a transfer that keeps moving).
const IDLE: Duration = Duration::from_secs(300);

/// Refusals remembered for `refusal_in`.
const REMEMBERED: usize = 64;

static REFUSALS: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// The proxy's refusal `text` quotes, as the proxy gave it: a fetch's failure may repeat it
/// (it is our own account), where anything else a fetching program printed may be the
/// server's.
pub fn refusal_in(text: &str) -> Option<String> {
    let refusals = REFUSALS.lock().unwrap_or_else(|p| p.into_inner());
    refusals
        .iter()
        .rev()
        .find(|r| text.contains(r.as_str()))
        .map(|r| format!("the controller's fetch proxy answered 403: {r}"))
}

/// Counts a relay out when it ends, however it ends.
struct Running;

impl Drop for Running {
    fn drop(&mut self) {
        RELAYS.fetch_sub(1, Ordering::SeqCst);
    }
}

fn remember_refusal(reason: &str) {
    let mut refusals = REFUSALS.lock().unwrap_or_else(|p| p.into_inner());
    if !refusals.iter().any(|r| r == reason) {
        if refusals.len() == REMEMBERED {
            refusals.pop_front();
        }
        refusals.push_back(reason.to_string());
    }
}

static CHART_PROXY: OnceLock<Option<SocketAddr>> = OnceLock::new();
static GIT_PROXY: OnceLock<Option<SocketAddr>> = OnceLock::new();

/// The URL of the proxy for `fetch` fetches, started on first use; None when the process is
/// not confined. A proxy that cannot start yields a port nothing listens on: fetches are then
/// refused, never unchecked.
pub fn proxy_url(fetch: Fetch) -> Option<String> {
    let policy = address::confined()?;
    let cell = match fetch {
        Fetch::Chart => &CHART_PROXY,
        Fetch::Git => &GIT_PROXY,
    };
    let address = *cell.get_or_init(|| match start(policy, fetch) {
        Ok(address) => Some(address),
        Err(err) => {
            tracing::error!(error = %err, "cannot start the fetch proxy; fetches are refused");
            None
        }
    });
    Some(format!(
        "http://{}",
        address.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9)))
    ))
}

/// The environment that sends a helm child's fetches through the proxy; empty when the
/// process is not confined. Any proxy setting of the caller is replaced: a `NO_PROXY` entry
/// would be a way around the check.
pub fn helm_env() -> Vec<(&'static str, String)> {
    let Some(url) = proxy_url(Fetch::Chart) else {
        return Vec::new();
    };
    let mut env = Vec::new();
    for name in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"] {
        env.push((name, url.clone()));
    }
    for name in ["NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"] {
        env.push((name, String::new()));
    }
    env
}

/// Listens on an ephemeral loopback port, one thread per connection.
pub fn start(policy: &'static Policy, fetch: Fetch) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let address = listener.local_addr()?;
    std::thread::Builder::new()
        .name("fetch-proxy".into())
        .spawn(move || {
            for client in listener.incoming().flatten() {
                let _ = std::thread::Builder::new()
                    .name("fetch-proxy-conn".into())
                    .spawn(move || {
                        if let Err(err) = serve(client, policy, fetch) {
                            tracing::debug!(error = %err, "fetch proxy connection ended");
                        }
                    });
            }
        })?;
    Ok(address)
}

/// One client connection: a `CONNECT host:port` tunnel (https) or one plain-http request in
/// absolute form.
fn serve(mut client: TcpStream, policy: &Policy, fetch: Fetch) -> io::Result<()> {
    client.set_read_timeout(Some(CONNECT_TIMEOUT))?;
    let (head, rest) = read_head(&mut client)?;
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut request = lines.next().unwrap_or_default().split(' ');
    let (method, target) = (
        request.next().unwrap_or_default(),
        request.next().unwrap_or_default(),
    );
    let tunnel = method.eq_ignore_ascii_case("CONNECT");
    let destination = if tunnel {
        authority(target)
    } else {
        address::host_and_port(target).filter(|_| target.starts_with("http://"))
    };
    let Some((host, port)) = destination else {
        return answer(
            &mut client,
            400,
            "the fetch proxy takes CONNECT or an absolute http URL",
        );
    };
    let addresses = match policy.check_host(fetch, &host, port) {
        Ok(addresses) => addresses,
        Err(refused) => {
            tracing::warn!(%host, reason = %refused, "fetch refused");
            let reason = status_text(&refused.0);
            remember_refusal(&reason);
            return answer(&mut client, 403, &reason);
        }
    };
    let Some(mut server) = addresses
        .iter()
        .find_map(|a| TcpStream::connect_timeout(a, CONNECT_TIMEOUT).ok())
    else {
        return answer(
            &mut client,
            502,
            &format!("cannot connect to {host}:{port}"),
        );
    };
    if tunnel {
        client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    } else {
        // Origin-form for the server, and one request per connection: the next one may be
        // for another host, checked anew.
        let mut forwarded = format!("{method} {} HTTP/1.1\r\n", origin_form(target));
        for line in text.split("\r\n").skip(1) {
            let header = line.split(':').next().unwrap_or_default();
            if header.eq_ignore_ascii_case("connection")
                || header.eq_ignore_ascii_case("proxy-connection")
                || header.eq_ignore_ascii_case("proxy-authorization")
            {
                continue;
            }
            if line.is_empty() {
                break;
            }
            forwarded.push_str(line);
            forwarded.push_str("\r\n");
        }
        forwarded.push_str("Connection: close\r\n\r\n");
        server.write_all(forwarded.as_bytes())?;
        server.write_all(&rest)?;
        // helm follows a redirect itself, straight to a loopback literal or `localhost`
        // (which it never sends through a proxy): where the redirect shows, it is checked here.
        server.set_read_timeout(Some(IDLE))?;
        let (head, body) = read_head(&mut server)?;
        if let Some(location) = redirect(&head, target)
            && let Some((host, port)) = address::host_and_port(&location)
            && let Err(refused) = policy.check_host(fetch, &host, port)
        {
            tracing::warn!(%host, reason = %refused, "redirect refused");
            let reason = status_text(&format!("refusing to follow a redirect: {}", refused.0));
            remember_refusal(&reason);
            return answer(&mut client, 403, &reason);
        }
        client.write_all(&head)?;
        client.write_all(&body)?;
        return relay(client, server);
    }
    server.write_all(&rest)?;
    relay(client, server)
}

/// Where a response head sends the client, resolved against the URL asked for; None when it
/// is not a redirect.
fn redirect(head: &[u8], asked: &str) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let code: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    if !(300..400).contains(&code) {
        return None;
    }
    let location = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("location")
            .then(|| value.trim().to_string())
    })?;
    let resolved = url::Url::parse(asked).ok()?.join(&location).ok()?;
    Some(resolved.to_string())
}

/// The path and query of an absolute URL (`/` when it has none).
fn origin_form(target: &str) -> String {
    match url::Url::parse(target) {
        Ok(url) => match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        },
        Err(_) => "/".to_string(),
    }
}

/// `host:port` of a CONNECT request (`[::1]:443` for IPv6).
fn authority(target: &str) -> Option<(String, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    let host = host.trim_matches(['[', ']']);
    (!host.is_empty()).then(|| Some((host.to_string(), port.parse().ok()?)))?
}

/// The request head (through the blank line) and whatever the client sent after it.
fn read_head(client: &mut TcpStream) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buffer.split_off(end + 4);
            return Ok((buffer, rest));
        }
        if buffer.len() > MAX_HEAD {
            return Err(io::Error::other("request head too long"));
        }
        let n = client.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// `reason` as a status line may carry it.
fn status_text(reason: &str) -> String {
    reason.chars().filter(|c| !c.is_control()).collect()
}

fn answer(client: &mut TcpStream, code: u16, reason: &str) -> io::Result<()> {
    let reason = status_text(reason);
    write!(
        client,
        "HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

/// Relays running now.
static RELAYS: AtomicUsize = AtomicUsize::new(0);

/// Copies both ways until either side closes or the connection idles. The client closing
/// ends the relay at once (a fetching program killed at its render's deadline must not leave
/// a thread waiting on a silent server for the idle limit): helm's and git's HTTP clients
/// never half-close a connection they still expect an answer on.
fn relay(client: TcpStream, server: TcpStream) -> io::Result<()> {
    RELAYS.fetch_add(1, Ordering::SeqCst);
    let _running = Running;
    for stream in [&client, &server] {
        stream.set_read_timeout(Some(IDLE))?;
    }
    let (mut client_read, mut server_write) = (client.try_clone()?, server.try_clone()?);
    let upstream = std::thread::spawn(move || {
        let _ = io::copy(&mut client_read, &mut server_write);
        let _ = server_write.shutdown(std::net::Shutdown::Both);
    });
    let (mut server_read, mut client_write) = (server, client);
    let _ = io::copy(&mut server_read, &mut client_write);
    let _ = client_write.shutdown(std::net::Shutdown::Both);
    let _ = server_read.shutdown(std::net::Shutdown::Both);
    let _ = upstream.join();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `request` through a proxy confined to `policy` and returns the first line of the
    /// answer.
    fn through(policy: Policy, request: String) -> String {
        let policy: &'static Policy = Box::leak(Box::new(policy));
        let proxy = start(policy, Fetch::Chart).unwrap();
        let mut client = TcpStream::connect(proxy).unwrap();
        client.write_all(request.as_bytes()).unwrap();
        let mut line = String::new();
        let _ = io::BufRead::read_line(&mut io::BufReader::new(client), &mut line);
        line.trim_end().to_string()
    }

    /// A server answering one request with `body`.
    fn server(body: &'static str) -> SocketAddr {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head);
                // As an origin server sees it: a path, not the proxy's absolute URL.
                let status = match head.starts_with(b"GET /index.yaml HTTP/1.1\r\n") {
                    true => "200 OK",
                    false => "400 Bad Request",
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        address
    }

    #[test]
    fn a_tunnel_to_an_internal_address_is_refused_with_the_reason() {
        let target = server("secret");
        let line = through(
            Policy::default(),
            format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n"),
        );
        assert!(line.starts_with("HTTP/1.1 403 "), "{line}");
        assert!(
            line.contains("loopback") && line.contains("--allow-fetch-to"),
            "{line}"
        );
        let line = through(
            Policy::default(),
            "GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n"
                .into(),
        );
        assert!(
            line.contains("403") && line.contains("link-local"),
            "{line}"
        );
    }

    #[test]
    fn an_allowed_address_is_relayed() {
        let target = server("index");
        let allowed = Policy::parse(&["127.0.0.1".into()]).unwrap();
        let line = through(
            allowed.clone(),
            format!("CONNECT {target} HTTP/1.1\r\n\r\n"),
        );
        assert_eq!(line, "HTTP/1.1 200 Connection established");
        let target = server("index");
        let line = through(
            allowed,
            format!(
                "GET http://{target}/index.yaml HTTP/1.1\r\nHost: {target}\r\nConnection: keep-alive\r\n\r\n"
            ),
        );
        assert_eq!(line, "HTTP/1.1 200 OK");
    }

    #[test]
    fn a_plain_http_redirect_to_an_address_the_policy_refuses_is_refused() {
        let Ok(listener) = TcpListener::bind(("127.0.0.2", 0)) else {
            return; // no 127.0.0.2 on this machine (not Linux)
        };
        let target = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(2).flatten() {
                let mut stream = stream;
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head);
                let location = match head.starts_with(b"GET /index.yaml ") {
                    true => "http://127.0.0.1:9/index.yaml",
                    false => "/index.yaml",
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
                );
            }
        });
        let allowed = Policy::parse(&["127.0.0.2".into()]).unwrap();
        let line = through(
            allowed.clone(),
            format!("GET http://{target}/index.yaml HTTP/1.1\r\nHost: {target}\r\n\r\n"),
        );
        assert!(
            line.starts_with("HTTP/1.1 403 refusing to follow a redirect")
                && line.contains("127.0.0.1")
                && line.contains("loopback"),
            "{line}"
        );
        assert!(refusal_in(&format!("Error: {}", &line[13..])).is_some());
        // A redirect within what the policy allows is relayed as it came.
        let line = through(
            allowed,
            format!("GET http://{target}/old HTTP/1.1\r\nHost: {target}\r\n\r\n"),
        );
        assert_eq!(line, "HTTP/1.1 302 Found");
    }

    #[test]
    fn a_relay_to_a_silent_server_ends_when_its_client_goes_away() {
        // A server that accepts and never answers.
        let silent = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let target = silent.local_addr().unwrap();
        let held = std::thread::spawn(move || silent.accept().map(|(stream, _)| stream));
        let allowed: &'static Policy =
            Box::leak(Box::new(Policy::parse(&["127.0.0.1".into()]).unwrap()));
        let proxy = start(allowed, Fetch::Chart).unwrap();
        let mut client = TcpStream::connect(proxy).unwrap();
        write!(client, "CONNECT {target} HTTP/1.1\r\n\r\n").unwrap();
        let mut line = String::new();
        io::BufRead::read_line(&mut io::BufReader::new(&client), &mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        let mut server = held.join().unwrap().unwrap();
        assert_eq!(RELAYS.load(Ordering::SeqCst), 1);

        // The fetching program is killed: its end of the tunnel closes.
        drop(client);
        let gone = std::time::Instant::now();
        while RELAYS.load(Ordering::SeqCst) != 0 {
            assert!(
                gone.elapsed() < Duration::from_secs(30),
                "the relay still waits on the silent server"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // And the server sees its connection closed.
        server
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        assert_eq!(server.read(&mut [0u8; 16]).unwrap_or(0), 0);
    }
}
