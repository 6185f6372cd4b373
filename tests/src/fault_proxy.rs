//! [`FaultProxy`]: a TCP proxy between a pool and a real server that injects network
//! faults on command, for the fault scenarios (`scenarios::faults`).
//!
//! It listens on `127.0.0.1:<ephemeral>` and forwards every accepted connection to the
//! upstream server. On command it can:
//!
//! - [`blackhole`](FaultProxy::blackhole): stop forwarding in both directions while
//!   keeping every socket open (a network partition: nothing is lost, nothing arrives;
//!   the proxy's kernel still acknowledges, so TCP keepalive does not notice), or in one
//!   direction only ([`blackhole_downstream`](FaultProxy::blackhole_downstream): the
//!   server receives, the client hears nothing back);
//! - [`cut_all`](FaultProxy::cut_all): reset every open connection (RST both ways);
//! - [`cut_after_downstream_bytes`](FaultProxy::cut_after_downstream_bytes): reset the
//!   connection that forwards the next `n` bytes from the server (a result cut
//!   mid-stream);
//! - [`refuse_new`](FaultProxy::refuse_new): close the listening socket, so connects are
//!   refused (`ECONNREFUSED`), as while a server restarts;
//! - [`resume`](FaultProxy::resume): forward again and accept new connections (on the
//!   same port).
//!
//! Nothing here stands in for a server: every byte comes from the real one.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

/// Which directions the proxy forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Both directions.
    Forward,
    /// Neither direction; sockets stay open.
    Blackhole,
    /// Client to server only: the server's answers are held back.
    BlackholeDownstream,
}

impl Flow {
    fn upstream(self) -> bool {
        matches!(self, Flow::Forward | Flow::BlackholeDownstream)
    }

    fn downstream(self) -> bool {
        matches!(self, Flow::Forward)
    }
}

/// A fault-injecting TCP proxy in front of one upstream server. Dropping it resets every
/// connection through it and closes its port.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    flow: watch::Sender<Flow>,
    /// Bumped to reset every open connection.
    cuts: watch::Sender<u64>,
    refusing: watch::Sender<bool>,
    /// Whether the accept loop holds a listening socket (it says so once it has
    /// closed or bound it, so that `refuse_new` and `accept_new` can wait for that).
    listening: watch::Sender<bool>,
    /// Bytes the server may still send before the connection forwarding them is reset.
    budget: Mutex<Option<u64>>,
    accepted: AtomicU64,
    live: AtomicUsize,
    resets: AtomicU64,
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1:0` forwarding to `upstream`. Must run inside a tokio
    /// runtime.
    ///
    /// # Errors
    /// When no local port can be bound.
    pub async fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            flow: watch::Sender::new(Flow::Forward),
            cuts: watch::Sender::new(0),
            refusing: watch::Sender::new(false),
            listening: watch::Sender::new(true),
            budget: Mutex::new(None),
            accepted: AtomicU64::new(0),
            live: AtomicUsize::new(0),
            resets: AtomicU64::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, addr, Arc::clone(&shared)));
        Ok(FaultProxy {
            addr,
            shared,
            accept,
        })
    }

    /// Starts a proxy to `host:port` (resolved now; `localhost` and IPs are fine).
    ///
    /// # Errors
    /// When the name does not resolve or no local port can be bound.
    pub async fn start_to(host: &str, port: u16) -> io::Result<FaultProxy> {
        let upstream = tokio::net::lookup_host((host, port))
            .await?
            .next()
            .ok_or_else(|| io::Error::other(format!("{host}:{port} does not resolve")))?;
        FaultProxy::start(upstream).await
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The upstream server.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// Stops forwarding in both directions; sockets stay open (a partition). New
    /// connections are still accepted, and hang the same way.
    pub fn blackhole(&self) {
        self.shared.flow.send_replace(Flow::Blackhole);
    }

    /// Forwards what clients send, but holds back everything the server sends.
    pub fn blackhole_downstream(&self) {
        self.shared.flow.send_replace(Flow::BlackholeDownstream);
    }

    /// Resets every connection open through the proxy (RST to both peers), including
    /// ones still connecting upstream.
    pub fn cut_all(&self) {
        self.shared.cuts.send_modify(|g| *g += 1);
    }

    /// Resets the connection that forwards the next `n` bytes from the server, after
    /// forwarding exactly those `n` bytes. Fires once.
    pub fn cut_after_downstream_bytes(&self, n: u64) {
        *self
            .shared
            .budget
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(n);
    }

    /// Whether a [`cut_after_downstream_bytes`](Self::cut_after_downstream_bytes) is
    /// still armed (has not fired).
    pub fn cut_pending(&self) -> bool {
        self.shared
            .budget
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Closes the listening socket: once this returns, new connects are refused until
    /// [`resume`](Self::resume) or [`accept_new`](Self::accept_new). Open connections are
    /// not touched.
    pub async fn refuse_new(&self) {
        self.shared.refusing.send_replace(true);
        self.listening_is(false).await;
    }

    /// Listens again (same port) after [`refuse_new`](Self::refuse_new): once this
    /// returns, connects succeed.
    pub async fn accept_new(&self) {
        self.shared.refusing.send_replace(false);
        self.listening_is(true).await;
    }

    /// Back to normal: forwards both ways and accepts new connections. A pending
    /// downstream cut is disarmed.
    pub async fn resume(&self) {
        *self
            .shared
            .budget
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        self.shared.flow.send_replace(Flow::Forward);
        self.accept_new().await;
    }

    /// Waits until the accept loop has closed or bound its socket.
    ///
    /// # Panics
    /// When that takes more than 10 s (the accept loop could not bind the port again).
    async fn listening_is(&self, want: bool) {
        let mut listening = self.shared.listening.subscribe();
        let waited =
            tokio::time::timeout(Duration::from_secs(10), listening.wait_for(|l| *l == want)).await;
        assert!(
            matches!(waited, Ok(Ok(_))),
            "the fault proxy on {} did not {} within 10 s",
            self.addr,
            if want {
                "listen again"
            } else {
                "close its port"
            }
        );
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Connections currently open through the proxy.
    pub fn live(&self) -> usize {
        self.shared.live.load(Ordering::Relaxed)
    }

    /// Connections reset by the proxy so far.
    pub fn resets(&self) -> u64 {
        self.shared.resets.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut_all();
    }
}

/// A listening socket on `addr`, with `SO_REUSEADDR` so that the same port can be bound
/// again after [`FaultProxy::refuse_new`] while connections it accepted are still open
/// or in `TIME_WAIT`.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn accept_loop(listener: TcpListener, addr: SocketAddr, shared: Arc<Shared>) {
    let mut refusing = shared.refusing.subscribe();
    let mut listener = Some(listener);
    loop {
        if *refusing.borrow_and_update() {
            // Closed: the kernel answers connects with RST (connection refused).
            listener = None;
            shared.listening.send_replace(false);
            if refusing.changed().await.is_err() {
                return;
            }
            continue;
        }
        if listener.is_none() {
            listener = Some(relisten(addr).await);
            shared.listening.send_replace(true);
        }
        let Some(l) = listener.as_ref() else { continue };
        tokio::select! {
            accepted = l.accept() => {
                if let Ok((stream, _)) = accepted {
                    shared.accepted.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(pipe(stream, Arc::clone(&shared)));
                }
            }
            changed = refusing.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Binds `addr` again, retrying briefly (the port was ours a moment ago).
///
/// # Panics
/// When the port cannot be bound again within 5 s (another process took it).
async fn relisten(addr: SocketAddr) -> TcpListener {
    let mut last = None;
    for _ in 0..250 {
        match listen(addr) {
            Ok(l) => return l,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the fault proxy cannot listen on {addr} again: {last:?}");
}

/// Counts a connection as live while it is held.
struct Live(Arc<Shared>);

impl Live {
    fn new(shared: &Arc<Shared>) -> Live {
        shared.live.fetch_add(1, Ordering::Relaxed);
        Live(Arc::clone(shared))
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How a connection through the proxy ended.
enum End {
    /// A peer closed it (or an I/O error): close the other side normally.
    Closed,
    /// The proxy cut it: reset both sides.
    Cut,
}

/// Resets `stream` when it is dropped: `SO_LINGER` 0 makes `close` send RST. (The
/// setter is deprecated because a non-zero linger blocks on drop; zero does not.)
fn reset_on_drop(stream: &TcpStream) {
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
}

async fn pipe(mut client: TcpStream, shared: Arc<Shared>) {
    let _live = Live::new(&shared);
    let mut cuts = shared.cuts.subscribe();
    cuts.borrow_and_update();
    let mut flow = shared.flow.subscribe();
    let connected = tokio::select! {
        s = TcpStream::connect(shared.upstream) => s.ok(),
        _ = cuts.changed() => None,
    };
    let Some(mut server) = connected else {
        shared.resets.fetch_add(1, Ordering::Relaxed);
        reset_on_drop(&client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let end = {
        let (mut client_read, mut client_write) = client.split();
        let (mut server_read, mut server_write) = server.split();
        let mut up = vec![0u8; 16 * 1024];
        let mut down = vec![0u8; 16 * 1024];
        loop {
            let now = *flow.borrow_and_update();
            tokio::select! {
                // A cut or a change of flow made before data arrived is seen before that
                // data is forwarded.
                biased;
                _ = cuts.changed() => break End::Cut,
                changed = flow.changed() => {
                    if changed.is_err() {
                        break End::Cut;
                    }
                }
                read = client_read.read(&mut up), if now.upstream() => match read {
                    Ok(0) | Err(_) => break End::Closed,
                    Ok(n) => {
                        if let Some(end) = forward(&mut server_write, &up[..n], &mut cuts).await {
                            break end;
                        }
                    }
                },
                read = server_read.read(&mut down), if now.downstream() => match read {
                    Ok(0) | Err(_) => break End::Closed,
                    Ok(n) => {
                        let (n, cut) = shared.spend(n);
                        if let Some(end) = forward(&mut client_write, &down[..n], &mut cuts).await {
                            break end;
                        }
                        if cut {
                            break End::Cut;
                        }
                    }
                },
            }
        }
    };
    if let End::Cut = end {
        shared.resets.fetch_add(1, Ordering::Relaxed);
        reset_on_drop(&client);
        reset_on_drop(&server);
    }
}

impl Shared {
    /// Takes `n` bytes from the downstream budget: how many of them to forward, and
    /// whether to cut the connection after them.
    fn spend(&self, n: usize) -> (usize, bool) {
        let mut budget = self.budget.lock().unwrap_or_else(PoisonError::into_inner);
        match *budget {
            None => (n, false),
            Some(left) if (n as u64) < left => {
                *budget = Some(left - n as u64);
                (n, false)
            }
            Some(left) => {
                *budget = None;
                (usize::try_from(left).unwrap_or(n), true)
            }
        }
    }
}

/// Writes `bytes` to `to`, unless a cut comes first. `None`: written.
async fn forward<W: AsyncWriteExt + Unpin>(
    to: &mut W,
    bytes: &[u8],
    cuts: &mut watch::Receiver<u64>,
) -> Option<End> {
    tokio::select! {
        written = to.write_all(bytes) => match written {
            Ok(()) => None,
            Err(_) => Some(End::Closed),
        },
        _ = cuts.changed() => Some(End::Cut),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use super::*;

    /// An echo server on the loopback: the proxy's behaviour checked against real sockets.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> io::Result<Vec<u8>> {
        s.write_all(msg).await?;
        let mut got = vec![0u8; msg.len()];
        s.read_exact(&mut got).await?;
        Ok(got)
    }

    #[tokio::test]
    async fn forwards_blackholes_cuts_and_refuses() {
        let proxy = FaultProxy::start(echo().await).await.unwrap();
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut s, b"hello").await.unwrap(), b"hello");

        proxy.blackhole();
        let stalled =
            tokio::time::timeout(Duration::from_millis(300), round_trip(&mut s, b"x")).await;
        assert!(stalled.is_err(), "a blackholed connection answered");
        proxy.resume().await;
        // What was sent during the partition arrives afterwards.
        let mut late = [0u8; 1];
        s.read_exact(&mut late).await.unwrap();
        assert_eq!(&late, b"x");

        proxy.cut_all();
        let mut buf = [0u8; 1];
        let after_cut = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap();
        assert!(matches!(after_cut, Ok(0) | Err(_)), "{after_cut:?}");

        proxy.refuse_new().await;
        let refused = async {
            for _ in 0..100 {
                if TcpStream::connect(proxy.addr()).await.is_err() {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            false
        };
        assert!(refused.await, "connects were not refused");
        proxy.resume().await;
        let mut s = async {
            loop {
                if let Ok(s) = TcpStream::connect(proxy.addr()).await {
                    return s;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        .await;
        assert_eq!(round_trip(&mut s, b"again").await.unwrap(), b"again");

        proxy.cut_after_downstream_bytes(3);
        s.write_all(b"abcdef").await.unwrap();
        let mut got = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got))
            .await
            .unwrap();
        assert!(got.len() <= 3, "more than the budget arrived: {got:?}");
        assert!(read.is_err() || got.len() <= 3);
        assert!(!proxy.cut_pending());
    }
}
