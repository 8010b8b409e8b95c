//! The loopback HTTP/1.1 server both stand-ins run: a listener on `127.0.0.1:0` served on
//! its own thread and tokio runtime, each request answered by the stand-in's handler, until
//! the [`Server`] is dropped.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};

/// A running server; dropping it stops the server and waits for its thread.
pub(crate) struct Server {
    /// `127.0.0.1:<port>`.
    pub addr: std::net::SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts serving `handle(shared, request)` on a thread called `name`.
pub(crate) fn start<S, Fut>(
    name: &str,
    shared: Arc<S>,
    handle: fn(Arc<S>, Request<Incoming>) -> Fut,
) -> std::io::Result<Server>
where
    S: Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()?;
    let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let _ = stream.set_nodelay(true);
                            let shared = shared.clone();
                            tokio::spawn(async move {
                                let svc = hyper::service::service_fn(move |req| {
                                    let shared = shared.clone();
                                    async move { Ok::<_, Infallible>(handle(shared, req).await) }
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .keep_alive(true)
                                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                                    .await;
                            });
                        }
                    }
                }
            });
            // Dropping the runtime here cancels open connections.
        })?;
    Ok(Server {
        addr,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}
