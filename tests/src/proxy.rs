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
    /// The root, PEM: what clients are told to trust (`shared::config::TEST_CA_VARIABLE`).
    pub root_pem: String,
    chain: Vec<CertificateDer<'static>>,
    leaf_key: PrivatePkcs8KeyDer<'static>,
}

impl TestCa {
    /// A root, an intermediate and a leaf for `localhost` and `127.0.0.1`, ECDSA P-256.
    pub fn new() -> Self {
        let authority = |name: &str| {
            let mut params = CertificateParams::new(Vec::new()).expect("CA parameters");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            params
        };
        let root_key = KeyPair::generate().expect("a root key");
        let root = authority("testkit root CA")
            .self_signed(&root_key)
            .expect("the root certificate");
        let intermediate_key = KeyPair::generate().expect("an intermediate key");
        let intermediate = authority("testkit intermediate CA")
            .signed_by(
                &intermediate_key,
                &Issuer::new(authority("testkit root CA"), &root_key),
            )
            .expect("the intermediate certificate");
        let leaf_key = KeyPair::generate().expect("a leaf key");
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

#[derive(Default)]
struct Faults {
    lose_next_response: AtomicBool,
    responses_lost: AtomicUsize,
    connections: AtomicUsize,
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
        let faults = Arc::new(Faults::default());
        let (stop, stopped) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let shared = Arc::clone(&faults);
        let tls = conditions.tls.is_some();
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
                    _ = accept(listener, upstream, Arc::new(conditions), shared) => {}
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

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The store's next response never reaches the client: the request is delivered (so a
    /// write happens) and the connection then stays open and silent, as when a response is
    /// lost on the way back.
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

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.faults.connections.load(SeqCst)
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

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    conditions: Arc<Conditions>,
    faults: Arc<Faults>,
) {
    let acceptor = conditions.tls.as_ref().map(|ca| ca.acceptor());
    while let Ok((client, _)) = listener.accept().await {
        faults.connections.fetch_add(1, SeqCst);
        let (faults, conditions, acceptor) = (Arc::clone(&faults), Arc::clone(&conditions), acceptor.clone());
        tokio::spawn(async move {
            let _ = client.set_nodelay(true);
            let Ok(store) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = store.set_nodelay(true);
            match acceptor {
                None => relay(client, store, &conditions, &faults).await,
                Some(acceptor) => {
                    let Ok(client) = acceptor.accept(client).await else {
                        return;
                    };
                    faults.handshakes.fetch_add(1, SeqCst);
                    relay(client, store, &conditions, &faults).await;
                }
            }
        });
    }
}

/// Milliseconds since the proxy's clock started, for idle tracking across tasks.
fn now_ms(origin: Instant) -> u64 {
    u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Carries bytes both ways until either side closes, applying the conditions and faults.
async fn relay<C>(client: C, store: TcpStream, conditions: &Conditions, faults: &Faults)
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let (client_read, client_write) = tokio::io::split(client);
    let (store_read, store_write) = store.into_split();
    let silent = Arc::new(AtomicBool::new(false));
    faults
        .silencers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Arc::clone(&silent));
    let origin = Instant::now();
    let last_traffic = AtomicU64::new(0);
    let delay = conditions.one_way_delay;
    let requests = pump(
        client_read,
        store_write,
        delay,
        &silent,
        &last_traffic,
        origin,
        None,
    );
    let responses = pump(
        store_read,
        client_write,
        delay,
        &silent,
        &last_traffic,
        origin,
        Some(faults),
    );
    let idle = async {
        let Some(limit) = conditions.close_idle_after else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let quiet = now_ms(origin).saturating_sub(last_traffic.load(SeqCst));
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
        .retain(|silencer| !Arc::ptr_eq(silencer, &silent));
}

/// One direction: read, then deliver each chunk `delay` after it arrived (in order, without
/// holding up the reads behind it). `faults` is given for the store-to-client direction,
/// where a response can be lost.
async fn pump<R, W>(
    mut from: R,
    mut to: W,
    delay: Duration,
    silent: &AtomicBool,
    last_traffic: &AtomicU64,
    origin: Instant,
    faults: Option<&Faults>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (queue, mut queued) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let read = async move {
        let mut buffer = vec![0; 64 * 1024];
        loop {
            match from.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    last_traffic.store(now_ms(origin), SeqCst);
                    if let Some(faults) = faults
                        && faults.lose_next_response.swap(false, SeqCst)
                    {
                        faults.responses_lost.fetch_add(1, SeqCst);
                        silent.store(true, SeqCst);
                    }
                    if silent.load(SeqCst) {
                        continue;
                    }
                    if queue
                        .send((Instant::now() + delay, buffer[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        // A silenced connection does not close when the store does: the client has to give up.
        if faults.is_some() && silent.load(SeqCst) {
            std::future::pending::<()>().await;
        }
    };
    let write = async move {
        while let Some((due, bytes)) = queued.recv().await {
            tokio::time::sleep_until(due.into()).await;
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
