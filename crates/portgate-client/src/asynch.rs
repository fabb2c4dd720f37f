//! The async front end (feature `tokio`): the same sans-IO cores as [`crate::blocking`]
//! driven by tokio sockets and timers: transactions (NAT-PMP, PCP), HTTP exchanges,
//! UPnP calls, and the [`AsyncMapper`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::error::ClientError;
use crate::http::{HttpExchange, HttpResponse};
use crate::mapper::{Event, Mapper, Mapping};
use crate::transaction::Transaction;
use crate::upnp::actions::Call;
use crate::upnp::Igd;

/// Runs a NAT-PMP or PCP transaction over a fresh UDP socket.
pub async fn run<T: Transaction>(t: &mut T) -> Result<T::Output, ClientError> {
    let bind: SocketAddr = match t.server() {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(bind).await?;
    drive(&sock, t).await
}

/// The local address a PCP request to `server` is sent from.
pub fn local_address_for(server: IpAddr) -> Result<IpAddr, ClientError> {
    crate::route::local_address_for(server)
}

/// Drives a transaction over `sock` until it has a result.
pub async fn drive<T: Transaction>(sock: &UdpSocket, t: &mut T) -> Result<T::Output, ClientError> {
    let mut buf = vec![0u8; 1500];
    loop {
        if let Some(r) = t.poll_result() {
            return r;
        }
        while let Some(bytes) = t.poll_transmit(Instant::now()) {
            sock.send_to(&bytes, t.server()).await?;
        }
        let Some(wake) = t.poll_timeout() else {
            return t
                .poll_result()
                .unwrap_or(Err(ClientError::Timeout("gateway")));
        };
        let wait = wake.saturating_duration_since(Instant::now());
        match tokio::time::timeout(wait, sock.recv_from(&mut buf)).await {
            Ok(Ok((n, from))) => {
                t.handle_datagram(Instant::now(), from, buf.get(..n).unwrap_or_default())
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => t.handle_timeout(Instant::now()),
        }
    }
}

/// Runs one HTTP exchange within `timeout`.
pub async fn http(mut x: HttpExchange, timeout: Duration) -> Result<HttpResponse, ClientError> {
    let work = async {
        let mut s = TcpStream::connect(x.addr()).await?;
        s.set_nodelay(true)?;
        s.write_all(x.request()).await?;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                return x.handle_eof();
            }
            if let Some(r) = x.handle_bytes(buf.get(..n).unwrap_or_default())? {
                return Ok(r);
            }
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| ClientError::Timeout("http server"))?
}

/// Invokes an action on `igd`.
pub async fn call<T>(igd: &Igd, call: Call<T>, timeout: Duration) -> Result<T, ClientError> {
    let x = call.exchange(igd.control_url(&call)?)?;
    let r = http(x, timeout).await?;
    call.finish(&r)
}

/// The [`Mapper`] for tokio programs: the same mapper (every recovery rule lives there
/// once) run on tokio's blocking pool, with tokio timers between renewals, so an async
/// task never blocks on the network. Dropping it releases the mapping on the blocking
/// pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), portgate_client::ClientError> {
/// use portgate_client::{asynch::AsyncMapper, blocking::Client, Protocol};
/// use portgate_client::mapper::{MapSpec, Mapper, Via};
/// let spec = MapSpec {
///     protocol: Protocol::Tcp,
///     internal_port: 8080,
///     external_port: 8080,
///     lease: 3600,
///     remote_host: None,
///     description: "demo".into(),
///     via: Via::Auto,
/// };
/// let mut m = AsyncMapper::new(Mapper::new(Client::new(), spec, None, None));
/// let got = m.map().await?;
/// println!("{got:?}");
/// for event in m.wait_and_renew().await {
///     println!("{event:?}");
/// }
/// m.release().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AsyncMapper {
    inner: Option<Mapper>,
}

impl AsyncMapper {
    /// Wraps a mapper (nothing is sent yet).
    pub fn new(mapper: Mapper) -> Self {
        Self {
            inner: Some(mapper),
        }
    }

    /// The current mapping.
    pub fn mapping(&self) -> Option<&Mapping> {
        self.inner.as_ref().and_then(Mapper::mapping)
    }

    /// When the next renewal is due (see [`Mapper::renew_due`]).
    pub fn renew_due(&self) -> Option<Instant> {
        self.inner.as_ref().and_then(Mapper::renew_due)
    }

    async fn with<R, F>(&mut self, f: F) -> Result<R, ClientError>
    where
        F: FnOnce(&mut Mapper) -> R + Send + 'static,
        R: Send + 'static,
    {
        let mut m = self.inner.take().ok_or(ClientError::InvalidArgument(
            "mapper lost by an earlier panic",
        ))?;
        let (m, r) = tokio::task::spawn_blocking(move || {
            let r = f(&mut m);
            (m, r)
        })
        .await
        .map_err(|e| match e.try_into_panic() {
            Ok(p) => std::panic::resume_unwind(p),
            Err(_) => ClientError::InvalidArgument("mapper task cancelled"),
        })?;
        self.inner = Some(m);
        Ok(r)
    }

    /// Makes the mapping (see [`Mapper::map`]).
    pub async fn map(&mut self) -> Result<Mapping, ClientError> {
        self.with(Mapper::map).await?
    }

    /// Renews now and reports what happened (see [`Mapper::renew`]).
    pub async fn renew(&mut self) -> Vec<Event> {
        self.with(Mapper::renew).await.unwrap_or_default()
    }

    /// Waits (a tokio timer) until the renewal is due, then renews.
    pub async fn wait_and_renew(&mut self) -> Vec<Event> {
        let Some(due) = self.renew_due() else {
            return Vec::new();
        };
        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
        self.renew().await
    }

    /// Deletes the mapping now (see [`Mapper::release`]).
    pub async fn release(&mut self) -> Result<(), ClientError> {
        self.with(Mapper::release).await?
    }

    /// Gives up ownership: the mapping stays until its lease ends.
    pub fn detach(mut self) -> Option<Mapping> {
        self.inner.take().and_then(Mapper::detach)
    }
}

impl Drop for AsyncMapper {
    fn drop(&mut self) {
        if let Some(m) = self.inner.take() {
            // Releasing is blocking I/O: keep it off the async worker when one runs us.
            match tokio::runtime::Handle::try_current() {
                Ok(h) => {
                    h.spawn_blocking(move || drop(m));
                }
                Err(_) => drop(m),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::natpmp::NatPmpTransaction;
    use portgate_proto::natpmp::{Request, Response, ResultCode};

    /// The async driver against a NAT-PMP responder on loopback (a non-default port
    /// is reached by pointing the transaction's server at it via a tiny wrapper).
    struct OnPort(NatPmpTransaction, SocketAddr);
    impl Transaction for OnPort {
        type Output = Response;
        fn server(&self) -> SocketAddr {
            self.1
        }
        fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
            self.0.poll_transmit(now)
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.0.poll_timeout()
        }
        fn handle_timeout(&mut self, now: Instant) {
            self.0.handle_timeout(now)
        }
        fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
            // the core only trusts the real server address: translate it
            let from = if from == self.1 {
                self.0.server()
            } else {
                from
            };
            self.0.handle_datagram(now, from, bytes)
        }
        fn poll_result(&mut self) -> Option<Result<Response, ClientError>> {
            self.0.poll_result()
        }
    }

    #[tokio::test]
    async fn async_driver_retries_and_gets_the_answer() -> Result<(), ClientError> {
        let server = UdpSocket::bind("127.0.0.1:0").await?;
        let addr = server.local_addr()?;
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            // drop the first request: the 250 ms retry must bring a second one
            let _ = server.recv_from(&mut buf).await;
            if let Ok((n, from)) = server.recv_from(&mut buf).await {
                assert_eq!(Request::parse(&buf[..n]), Ok(Request::ExternalAddress));
                let r = Response::ExternalAddress {
                    result: ResultCode::Success,
                    epoch: 3,
                    address: Ipv4Addr::new(192, 0, 1, 1),
                };
                let _ = server.send_to(&r.to_bytes(), from).await;
            }
        });
        let t0 = Instant::now();
        let mut t = OnPort(
            NatPmpTransaction::external_address(Ipv4Addr::LOCALHOST, Default::default()),
            addr,
        );
        let r = run(&mut t).await?;
        assert!(t0.elapsed() >= Duration::from_millis(250));
        assert_eq!(
            crate::natpmp::external_from(&r)?.address,
            Ipv4Addr::new(192, 0, 1, 1)
        );
        Ok(())
    }
}
