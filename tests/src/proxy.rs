//! A proxy in front of a store, for what the network between Lambda and DynamoDB does and
//! loopback never does:
//!
//! - TLS: clients make a real handshake and check a certificate chain (a test CA made at run
//!   time, root → intermediate → leaf like AWS's), and every handshake is counted;
//! - round-trip time: each direction is delayed (this machine has no `tc netem`);
//! - idle connections closed by the far end, as servers and NATs do;
//! - a connection that goes silent without closing (a NAT that dropped its state);
//! - a response lost after the request reached the store (the write happened; the SDK times
//!   out and retries).
//!
//! It runs on a thread of its own, so blocking tests, async tests and the benchmark can all
//! use it, and it stops when dropped.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsAcceptor;

/// A certificate authority made for one test run, and the chain it issued for loopback.
pub struct TestCa {
    /// The root, PEM: what clients are told to trust (`shared::setup::TEST_CA_VARIABLE`).
    pub root_pem: String,
    chain: Vec<CertificateDer<'static>>,
    leaf_key: PrivatePkcs8KeyDer<'static>,
}

impl TestCa {
    /// A root, an intermediate and a leaf for `localhost` and `127.0.0.1`, RSA 2048 with
    /// SHA-256 like a DynamoDB endpoint's chain (leaf, "Amazon RSA 2048 M0x", "Amazon Root CA
    /// 1"): a client checks what it would check there. The keys come from `openssl genpkey`
    /// (ring, the crypto library here, signs with RSA but cannot make RSA keys).
    pub fn new() -> Self {
        let authority = |name: &str| {
            let mut params = CertificateParams::new(Vec::new()).expect("CA parameters");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            params
        };
        let root_key = rsa_key();
        let root = authority("testkit root CA")
            .self_signed(&root_key)
            .expect("the root certificate");
        let intermediate_key = rsa_key();
        let intermediate = authority("testkit intermediate CA")
            .signed_by(
                &intermediate_key,
                &Issuer::new(authority("testkit root CA"), &root_key),
            )
            .expect("the intermediate certificate");
        let leaf_key = rsa_key();
        let leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("leaf parameters")
            .signed_by(
                &leaf_key,
                &Issuer::new(authority("testkit intermediate CA"), &intermediate_key),
            )
            .expect("the leaf certificate");
        Self {
            root_pem: root.pem(),
            chain: vec![leaf.der().clone(), intermediate.der().clone()],
            leaf_key: PrivatePkcs8KeyDer::from(leaf_key.serialize_der()),
        }
    }

    fn acceptor(&self) -> TlsAcceptor {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                self.chain.clone(),
                PrivateKeyDer::Pkcs8(self.leaf_key.clone_key()),
            )
            .expect("the leaf certificate and key match");
        TlsAcceptor::from(Arc::new(config))
    }
}

/// A fresh RSA 2048 key.
fn rsa_key() -> KeyPair {
    let output = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        .output()
        .expect("openssl makes the test CA's RSA keys");
    let pem = String::from_utf8(output.stdout).expect("a PEM key");
    KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256)
        .expect("an RSA key rcgen can sign with")
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// What the proxy does to the traffic.
#[derive(Default)]
pub struct Conditions {
    /// Terminate TLS with this CA's chain (the store behind stays plain HTTP).
    pub tls: Option<Arc<TestCa>>,
    /// Added to each direction: the round-trip time is twice this.
    pub one_way_delay: Duration,
    /// Close a connection with no traffic for this long, as a server or a NAT does.
    pub close_idle_after: Option<Duration>,
}

/// The conditions, and the delay line that applies their delay.
struct Shaping {
    conditions: Conditions,
    delay_line: Option<DelayLine>,
}

#[derive(Default)]
struct Faults {
    /// The store is "down": every connection is closed as soon as it is accepted.
    down: AtomicBool,
    lose_next_response: AtomicBool,
    responses_lost: AtomicUsize,
    handshakes: AtomicUsize,
    idle_closes: AtomicUsize,
    /// One switch per open connection, for [`FaultProxy::silence_open_connections`].
    silencers: Mutex<Vec<Arc<AtomicBool>>>,
}

pub struct FaultProxy {
    address: SocketAddr,
    tls: bool,
    faults: Arc<Faults>,
    stop: Option<oneshot::Sender<()>>,
}

impl FaultProxy {
    /// Plain TCP to `upstream`, no delay: only the faults asked for.
    pub fn start(upstream: SocketAddr) -> Self {
        Self::with(upstream, Conditions::default())
    }

    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub fn with(upstream: SocketAddr, conditions: Conditions) -> Self {
        let delay_line = (!conditions.one_way_delay.is_zero()).then(DelayLine::start);
        let shaping = Shaping {
            conditions,
            delay_line,
        };
        let faults = Arc::new(Faults::default());
        let (stop, stopped) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let shared = Arc::clone(&faults);
        let tls = shaping.conditions.tls.is_some();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime for the proxy");
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("a loopback port for the proxy");
                let _ = ready_tx.send(listener.local_addr().expect("a bound address"));
                tokio::select! {
                    _ = stopped => {}
                    _ = accept(listener, upstream, Arc::new(shaping), shared) => {}
                }
            });
        });
        let address = ready_rx.recv().expect("the proxy started");
        Self {
            address,
            tls,
            faults,
            stop: Some(stop),
        }
    }

    /// `http(s)://127.0.0.1:<port>`
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.address)
    }

    /// The store's next response never reaches the client: the request is delivered (so a
    /// write happens) and the connection then stays open and silent, as when a response is
    /// lost on the way back.
    /// An outage of the store behind the proxy: from now on every connection is closed as
    /// soon as it is made, until [`back_up`](Self::back_up). (Connections already open stay.)
    pub fn go_down(&self) {
        self.faults.down.store(true, SeqCst);
    }

    pub fn back_up(&self) {
        self.faults.down.store(false, SeqCst);
    }

    pub fn lose_next_response(&self) {
        self.faults.lose_next_response.store(true, SeqCst);
    }

    pub fn responses_lost(&self) -> usize {
        self.faults.responses_lost.load(SeqCst)
    }

    /// Every connection open now stops carrying bytes either way, without closing: what a
    /// client sees when a NAT or load balancer on the path forgets the connection. New
    /// connections are served.
    pub fn silence_open_connections(&self) {
        let silencers = self.faults.silencers.lock().unwrap_or_else(|e| e.into_inner());
        for silencer in silencers.iter() {
            silencer.store(true, SeqCst);
        }
    }

    /// TLS handshakes completed so far.
    pub fn handshakes(&self) -> usize {
        self.faults.handshakes.load(SeqCst)
    }

    /// Connections closed for being idle so far.
    pub fn idle_closes(&self) -> usize {
        self.faults.idle_closes.load(SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, shaping: Arc<Shaping>, faults: Arc<Faults>) {
    let acceptor = shaping.conditions.tls.as_ref().map(|ca| ca.acceptor());
    while let Ok((client, _)) = listener.accept().await {
        let (faults, shaping, acceptor) = (Arc::clone(&faults), Arc::clone(&shaping), acceptor.clone());
        tokio::spawn(async move {
            if faults.down.load(SeqCst) {
                return;
            }
            let _ = client.set_nodelay(true);
            let Ok(store) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = store.set_nodelay(true);
            match acceptor {
                None => relay(client, store, &shaping, &faults).await,
                Some(acceptor) => {
                    let Ok(client) = acceptor.accept(client).await else {
                        return;
                    };
                    faults.handshakes.fetch_add(1, SeqCst);
                    relay(client, store, &shaping, &faults).await;
                }
            }
        });
    }
}

/// Milliseconds since the proxy's clock started, for idle tracking across tasks.
fn now_ms(origin: Instant) -> u64 {
    u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// One proxied connection's state, shared by its two directions.
struct Link<'a> {
    shaping: &'a Shaping,
    faults: &'a Faults,
    /// Set when the connection must go silent (a lost response, a forgetful NAT).
    silent: Arc<AtomicBool>,
    /// When bytes last went either way, in milliseconds since `origin`.
    last_traffic: AtomicU64,
    origin: Instant,
}

/// Carries bytes both ways until either side closes, applying the conditions and faults.
async fn relay<C>(client: C, store: TcpStream, shaping: &Shaping, faults: &Faults)
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let (client_read, client_write) = tokio::io::split(client);
    let (store_read, store_write) = store.into_split();
    let link = Link {
        shaping,
        faults,
        silent: Arc::new(AtomicBool::new(false)),
        last_traffic: AtomicU64::new(0),
        origin: Instant::now(),
    };
    faults
        .silencers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Arc::clone(&link.silent));
    let requests = pump(client_read, store_write, &link, false);
    let responses = pump(store_read, client_write, &link, true);
    let idle = async {
        let Some(limit) = shaping.conditions.close_idle_after else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let quiet = now_ms(link.origin).saturating_sub(link.last_traffic.load(SeqCst));
            if Duration::from_millis(quiet) >= limit {
                faults.idle_closes.fetch_add(1, SeqCst);
                return;
            }
        }
    };
    // Either side closing, or the idle limit, ends the connection (both sockets are dropped).
    tokio::select! {
        _ = requests => {}
        _ = responses => {}
        _ = idle => {}
    }
    faults
        .silencers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|silencer| !Arc::ptr_eq(silencer, &link.silent));
}

/// One direction: read, then deliver each chunk one-way-delay after it arrived (in order,
/// without holding up the reads behind it), through the delay line when there is a delay.
/// `responses` is the store-to-client direction, where a response can be lost.
async fn pump<R, W>(mut from: R, mut to: W, link: &Link<'_>, responses: bool)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (queue, mut queued) = mpsc::unbounded_channel::<Vec<u8>>();
    let silent = &link.silent;
    let read = async move {
        let mut buffer = vec![0; 64 * 1024];
        loop {
            match from.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    link.last_traffic.store(now_ms(link.origin), SeqCst);
                    if responses && link.faults.lose_next_response.swap(false, SeqCst) {
                        link.faults.responses_lost.fetch_add(1, SeqCst);
                        silent.store(true, SeqCst);
                    }
                    if silent.load(SeqCst) {
                        continue;
                    }
                    let bytes = buffer[..n].to_vec();
                    let sent = match &link.shaping.delay_line {
                        None => queue.send(bytes).is_ok(),
                        Some(line) => {
                            let due = Instant::now() + link.shaping.conditions.one_way_delay;
                            line.schedule(due, bytes, &queue)
                        }
                    };
                    if !sent {
                        break;
                    }
                }
            }
        }
        // A silenced connection does not close when the store does: the client has to give up.
        if responses && silent.load(SeqCst) {
            std::future::pending::<()>().await;
        }
    };
    let write = async move {
        while let Some(bytes) = queued.recv().await {
            if silent.load(SeqCst) {
                continue;
            }
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        if !silent.load(SeqCst) {
            let _ = to.shutdown().await;
        }
    };
    tokio::join!(read, write);
}

/// Delivers chunks at their due instant, to within tens of microseconds: tokio's timers tick
/// in whole milliseconds, too coarse for a 1 ms round trip. One thread sleeps until the
/// earliest due chunk (a futex wait) and hands it to its connection's writer.
struct DelayLine {
    schedule: std::sync::mpsc::Sender<Scheduled>,
}

struct Scheduled {
    due: Instant,
    order: u64,
    bytes: Vec<u8>,
    to: mpsc::UnboundedSender<Vec<u8>>,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.order) == (other.due, other.order)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    /// Reversed, so that the heap's top is the earliest (chunks due together keep their order).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.due, other.order).cmp(&(self.due, self.order))
    }
}

impl DelayLine {
    fn start() -> Self {
        let (schedule, scheduled) = std::sync::mpsc::channel::<Scheduled>();
        std::thread::spawn(move || {
            let mut pending = std::collections::BinaryHeap::new();
            loop {
                let wait = pending
                    .peek()
                    .map(|next: &Scheduled| next.due.saturating_duration_since(Instant::now()));
                let received = match wait {
                    None => scheduled.recv().map_err(|_| true),
                    Some(wait) => scheduled
                        .recv_timeout(wait)
                        .map_err(|error| matches!(error, std::sync::mpsc::RecvTimeoutError::Disconnected)),
                };
                match received {
                    Ok(chunk) => pending.push(chunk),
                    // Every sender is gone: the proxy stopped.
                    Err(true) if pending.is_empty() => return,
                    Err(_) => {}
                }
                while pending.peek().is_some_and(|next| next.due <= Instant::now()) {
                    if let Some(chunk) = pending.pop() {
                        let _ = chunk.to.send(chunk.bytes);
                    }
                }
            }
        });
        Self { schedule }
    }

    /// Queues `bytes` for `to` at `due`; `false` if the line is gone.
    fn schedule(&self, due: Instant, bytes: Vec<u8>, to: &mpsc::UnboundedSender<Vec<u8>>) -> bool {
        static ORDER: AtomicU64 = AtomicU64::new(0);
        let order = ORDER.fetch_add(1, SeqCst);
        let to = to.clone();
        self.schedule
            .send(Scheduled {
                due,
                order,
                bytes,
                to,
            })
            .is_ok()
    }
}
