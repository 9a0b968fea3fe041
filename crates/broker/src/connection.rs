//! The `Broker` handle and the task that owns its one AMQP connection.
//!
//! lapin's own auto-recovery is not used: the supervisor task below connects, declares the
//! topology, publishes the live connection to every user through a `watch` channel, and when
//! the connection is gone for any reason (network, broker restart, closed by an operator)
//! drops it and connects again with capped exponential backoff. Publishers and consumers open
//! their channels on whatever connection is current, and open new ones after a reconnect.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::config::BrokerConfig;
use crate::error::{short, BrokerError};
use crate::topology::{declare_queue, reply_queue_name, reply_queue_spec, QueueSpec, Topology};

/// How often the supervisor looks at the connection state besides reacting to lapin events
/// (a connection closed by the broker does not always raise an event).
const STATUS_POLL: Duration = Duration::from_millis(250);

/// One connection generation: a new `generation` after every reconnect, so that holders of
/// channels can tell theirs are from a connection that is gone.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) generation: u64,
    pub(crate) connection: Arc<Connection>,
}

impl Link {
    fn is_usable(&self) -> bool {
        self.connection.status().connected()
    }
}

/// A handle to the process's broker connection. Cheap to clone; all clones share the one
/// connection. The connection is closed when [`Broker::close`] is called or the last clone
/// is dropped.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    config: BrokerConfig,
    topology: Topology,
    link: watch::Receiver<Option<Link>>,
    /// Queues declared at run time (reply queues), re-declared after every reconnect.
    extra_queues: Arc<Mutex<Vec<QueueSpec>>>,
    /// Users that hit a connection error poke the supervisor to look at once.
    suspect: Arc<Notify>,
    /// Dropping this (last `Broker` clone gone) also stops the supervisor.
    stop: watch::Sender<bool>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
    connections_made: Arc<AtomicU64>,
}

impl Broker {
    /// Starts the connection supervisor and returns at once; the first connection is made in
    /// the background (see [`Broker::is_connected`], [`Broker::wait_connected`]). Must be
    /// called inside a tokio runtime.
    pub fn start(config: BrokerConfig, topology: Topology) -> Result<Broker, BrokerError> {
        config.validate()?;
        let uri = config.amqp_uri()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            BrokerError::Config("the broker must be started in a tokio runtime".into())
        })?;
        let (link_tx, link_rx) = watch::channel(None);
        let (stop_tx, stop_rx) = watch::channel(false);
        let extra_queues = Arc::new(Mutex::new(Vec::new()));
        let suspect = Arc::new(Notify::new());
        let connections_made = Arc::new(AtomicU64::new(0));
        let supervisor = Supervisor {
            connections_made: connections_made.clone(),
            uri,
            config: config.clone(),
            topology: topology.clone(),
            extra_queues: extra_queues.clone(),
            suspect: suspect.clone(),
            link: link_tx,
            stop: stop_rx,
        };
        let handle = runtime.spawn(supervisor.run());
        Ok(Broker {
            inner: Arc::new(Inner {
                config,
                topology,
                link: link_rx,
                extra_queues,
                suspect,
                stop: stop_tx,
                supervisor: Mutex::new(Some(handle)),
                connections_made,
            }),
        })
    }

    /// Starts the supervisor and waits for the first connection (topology declared) for up
    /// to `config.connect_timeout`.
    pub async fn connect(config: BrokerConfig, topology: Topology) -> Result<Broker, BrokerError> {
        let timeout = config.connect_timeout;
        let broker = Self::start(config, topology)?;
        broker.wait_connected(timeout).await?;
        Ok(broker)
    }

    /// Starts a service's connection from its environment settings (`AMQP_*`): the URL, the
    /// prefetch and the number of inbound shards, under `connection_name`.
    pub fn start_from_settings(
        settings: &config::BrokerConfig,
        connection_name: impl Into<String>,
    ) -> Result<Broker, BrokerError> {
        let mut config = BrokerConfig::new(settings.url.expose().clone(), connection_name);
        config.prefetch = settings.prefetch;
        Self::start(config, Topology::with_shards(settings.inbound_shards))
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.inner.config
    }

    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    /// For readiness probes: a connection is up and the topology is declared on it.
    pub fn is_connected(&self) -> bool {
        self.inner
            .link
            .borrow()
            .as_ref()
            .is_some_and(Link::is_usable)
    }

    /// How many connections this handle has made so far: 1 after the first connect, one
    /// more after every reconnect (0 before the first). Useful as a reconnect metric.
    pub fn connections_made(&self) -> u64 {
        self.inner.connections_made.load(Ordering::Relaxed)
    }

    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), BrokerError> {
        self.link_within(timeout).await.map(|_| ())
    }

    /// A fresh channel on the current connection, for what the publisher and consumer do not
    /// cover (inspecting queues, one-off declarations). The caller closes it.
    pub async fn open_channel(&self) -> Result<Channel, BrokerError> {
        let link = self.current_link()?;
        Ok(link.connection.create_channel().await?)
    }

    /// Declares the exclusive, auto-delete reply queue `gateway.replies.<instance_id>` of an
    /// API gateway replica and re-declares it after every reconnect. Waits for a connection
    /// up to `connect_timeout`. Returns the queue name; replies are published to the default
    /// exchange (`""`) with this name as routing key.
    ///
    /// The queue lives and dies with the connection: replies sent while it is being
    /// re-created are lost (publish them `mandatory` to see that), so the gateway must be
    /// able to fetch a reply it missed from where the executor stored it.
    pub async fn declare_reply_queue(&self, instance_id: &str) -> Result<String, BrokerError> {
        let name = reply_queue_name(instance_id);
        short(&name, "reply queue name")?;
        let spec = reply_queue_spec(name.clone());
        {
            let mut extra = self
                .inner
                .extra_queues
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if !extra.contains(&spec) {
                extra.push(spec.clone());
            }
        }
        let link = self.link_within(self.inner.config.connect_timeout).await?;
        let channel = link.connection.create_channel().await?;
        declare_queue(&channel, &spec).await?;
        let _ = channel.close(200, "OK".into()).await;
        Ok(name)
    }

    /// Closes the connection and stops reconnecting. Other clones then get
    /// [`BrokerError::Closed`] / [`BrokerError::NotConnected`]. Stop consumers first so that
    /// they can ack their in-flight work.
    pub async fn close(&self) {
        self.inner.stop.send_replace(true);
        let handle = self
            .inner
            .supervisor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(handle) = handle {
            let _ = handle.await;
        }
    }

    /// The current connection if it is usable, without waiting.
    pub(crate) fn current_link(&self) -> Result<Link, BrokerError> {
        match self.inner.link.borrow().as_ref() {
            Some(link) if link.is_usable() => Ok(link.clone()),
            _ => Err(BrokerError::NotConnected),
        }
    }

    /// Waits until a usable connection is published (or the broker is closed).
    pub(crate) async fn next_link(&self) -> Result<Link, BrokerError> {
        if *self.inner.stop.borrow() {
            return Err(BrokerError::Closed);
        }
        let mut link = self.inner.link.clone();
        let current = link
            .wait_for(|link| link.as_ref().is_some_and(Link::is_usable))
            .await
            .map_err(|_| BrokerError::Closed)?;
        current.clone().ok_or(BrokerError::NotConnected)
    }

    pub(crate) async fn link_within(&self, timeout: Duration) -> Result<Link, BrokerError> {
        tokio::time::timeout(timeout, self.next_link())
            .await
            .map_err(|_| BrokerError::Timeout("waiting for a broker connection"))?
    }

    /// Tells the supervisor that an operation failed in a way that may mean the connection
    /// is gone, so that it checks now rather than at its next poll.
    pub(crate) fn report_failure(&self) {
        self.inner.suspect.notify_one();
    }
}

enum Watch {
    Lost,
    Stop,
}

struct Supervisor {
    uri: AMQPUri,
    config: BrokerConfig,
    topology: Topology,
    extra_queues: Arc<Mutex<Vec<QueueSpec>>>,
    suspect: Arc<Notify>,
    link: watch::Sender<Option<Link>>,
    stop: watch::Receiver<bool>,
    connections_made: Arc<AtomicU64>,
}

impl Supervisor {
    async fn run(mut self) {
        let mut delay = self.config.reconnect_min;
        loop {
            if self.stopping() {
                break;
            }
            let attempt = tokio::time::timeout(self.config.connect_timeout, self.connect());
            let outcome = tokio::select! {
                outcome = attempt => outcome,
                () = stop_requested(self.stop.clone()) => break,
            };
            match outcome {
                Ok(Ok(connection)) => {
                    let generation = self.connections_made.fetch_add(1, Ordering::Relaxed) + 1;
                    delay = self.config.reconnect_min;
                    let connection = Arc::new(connection);
                    self.link.send_replace(Some(Link {
                        generation,
                        connection: connection.clone(),
                    }));
                    info!(generation, "connected to the broker, topology declared");
                    let watch = self.watch(&connection).await;
                    self.link.send_replace(None);
                    if let Watch::Stop = watch {
                        let _ = connection.close(200, "OK".into()).await;
                        break;
                    }
                    warn!(generation, "broker connection lost, reconnecting");
                }
                Ok(Err(error)) => {
                    warn!(%error, retry_in = ?delay, "cannot connect to the broker");
                }
                Err(_) => {
                    warn!(retry_in = ?delay, "connecting to the broker timed out");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(with_jitter(delay)) => {}
                () = stop_requested(self.stop.clone()) => break,
            }
            delay = (delay * 2).min(self.config.reconnect_max);
        }
        self.link.send_replace(None);
        info!("broker connection closed");
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Connects and declares the topology and the run-time queues, so that a connection is
    /// only handed out once everything its users expect exists.
    async fn connect(&self) -> Result<Connection, BrokerError> {
        let properties = ConnectionProperties::default()
            .with_connection_name(self.config.connection_name.clone().into());
        let connection = Connection::connect_uri(self.uri.clone(), properties).await?;
        let channel = connection.create_channel().await?;
        if let Err(error) = self.topology.declare(&channel).await {
            error!(%error, "declaring the broker topology failed");
            return Err(error);
        }
        let extra: Vec<QueueSpec> = self
            .extra_queues
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        for queue in &extra {
            declare_queue(&channel, queue).await?;
        }
        let _ = channel.close(200, "OK".into()).await;
        Ok(connection)
    }

    /// Returns when the connection is no longer usable or a stop was asked for.
    async fn watch(&mut self, connection: &Connection) -> Watch {
        let mut events = connection.events_listener();
        let mut events_open = true;
        let mut poll = tokio::time::interval(STATUS_POLL);
        loop {
            tokio::select! {
                changed = self.stop.changed() => {
                    if changed.is_err() || *self.stop.borrow() {
                        return Watch::Stop;
                    }
                }
                () = self.suspect.notified() => {}
                event = events.next(), if events_open => {
                    events_open = event.is_some();
                }
                _ = poll.tick() => {}
            }
            if !connection.status().connected() {
                return Watch::Lost;
            }
        }
    }
}

/// Resolves once a stop is asked for or every `Broker` handle is gone.
async fn stop_requested(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Adds up to 25% so that many processes cut off at once do not reconnect in lockstep.
fn with_jitter(delay: Duration) -> Duration {
    let random = (uuid::Uuid::new_v4().as_u128() % 1000) as u32;
    delay + delay * random / 4000
}
