//! The platform's exchanges, queues and bindings, declared in this one place. Every
//! connection (the first and each reconnect) declares all of it before anyone uses it, so a
//! fresh broker or vhost needs no separate setup. Declarations are idempotent; changing an
//! argument of an existing queue is refused by the broker (PRECONDITION_FAILED), so the
//! arguments below are part of the deployment contract (see `docs/messaging.md`).

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use crate::error::{short, BrokerError};

/// What publishers of inbound events name, with the conversation key as the routing key;
/// [`Topology::route`] turns it into [`INBOUND_SHARD_EXCHANGE`] and the conversation's shard.
/// It was a consistent-hash exchange until that showed to move conversations between shards
/// when the node restarts (see [`INBOUND_SHARD_EXCHANGE`]); it is no longer declared, and a
/// deployment that still has it (and the plugin) keeps both unused.
pub const INBOUND_EXCHANGE: &str = "bot.inbound";
/// Direct exchange in front of the inbound shards: the routing key is the shard number, which
/// the publisher computes from the conversation key ([`Topology::shard_of`]). RabbitMQ's
/// consistent-hash exchange (3.10) rebuilds its ring from the bindings in the order it recovers
/// them after a node restart, which need not be the order they were made in, so the same
/// conversation key can go to another queue afterwards: its later messages were handled before
/// its earlier ones (fault suite, `rabbitmq-kill-9` at full size; rabbitmq-server#3386,
/// rabbitmq-consistent-hash-exchange#32). Durable direct bindings route the same after a restart.
pub const INBOUND_SHARD_EXCHANGE: &str = "bot.inbound.by-shard";
/// Header of an inbound event naming its conversation (the routing key it was addressed with
/// before [`Topology::route`] replaced it by the shard): the executor's lanes and the dead
/// letters' replay address go by it.
pub const CONVERSATION_HEADER: &str = "x-conversation-key";
/// Direct exchange for outbound batches, routed by channel (`whatsapp`).
pub const OUTBOUND_EXCHANGE: &str = "bot.outbound";
/// Fanout exchange receiving rejected and over-delivered messages.
pub const DEAD_EXCHANGE: &str = "bot.dead";
pub const DEAD_LETTER_QUEUE: &str = "bot.dead-letter";
pub const SENDER_WHATSAPP_QUEUE: &str = "sender.whatsapp";
pub const WHATSAPP_ROUTING_KEY: &str = "whatsapp";
/// Prefix of the per-replica reply queues of the API gateway.
pub const REPLY_QUEUE_PREFIX: &str = "gateway.replies.";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    /// Number of `bot.inbound.<n>` queues. Changing it moves conversations between shards,
    /// so only change it with the executors drained.
    pub inbound_shards: u16,
    /// `x-delivery-limit` of the quorum queues: deliveries after which a message is
    /// dead-lettered. Also what keeps a requeued message at the head of its queue on 3.10.
    pub delivery_limit: u32,
}

impl Default for Topology {
    fn default() -> Self {
        Self {
            inbound_shards: 8,
            delivery_limit: 5,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeSpec {
    pub name: String,
    pub kind: ExchangeKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueKind {
    /// Durable, replicated; `single_active_consumer` makes one consumer at a time receive
    /// from the queue, which is what keeps a shard's messages in order.
    Quorum {
        delivery_limit: Option<u32>,
        single_active_consumer: bool,
    },
    /// Exclusive to the declaring connection, deleted with it; for replies only.
    ExclusiveClassic,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSpec {
    pub name: String,
    pub kind: QueueKind,
    pub dead_letter_exchange: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingSpec {
    pub queue: String,
    pub exchange: String,
    pub routing_key: String,
}

impl Topology {
    pub fn with_shards(inbound_shards: u16) -> Self {
        Self {
            inbound_shards,
            ..Self::default()
        }
    }

    /// The shard of a conversation: FNV-1a (64 bit) of its key modulo the number of shards.
    /// Fixed here, not left to a library, because every publisher of every version must agree
    /// on it for a conversation to stay on one queue.
    pub fn shard_of(&self, conversation_key: &str) -> u16 {
        let hash = conversation_key
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            });
        let shards = u64::from(self.inbound_shards.max(1));
        u16::try_from(hash % shards).unwrap_or(0)
    }

    /// Where a publish actually goes: [`INBOUND_EXCHANGE`] with a conversation key becomes
    /// [`INBOUND_SHARD_EXCHANGE`] with the conversation's shard; anything else (including a
    /// dead letter replayed to the exchange and shard it came from) is left as it is.
    pub fn route(&self, exchange: &str, routing_key: &str) -> (String, String) {
        if exchange == INBOUND_EXCHANGE {
            (
                INBOUND_SHARD_EXCHANGE.to_owned(),
                self.shard_of(routing_key).to_string(),
            )
        } else {
            (exchange.to_owned(), routing_key.to_owned())
        }
    }

    pub fn inbound_queue(shard: u16) -> String {
        format!("{INBOUND_EXCHANGE}.{shard}")
    }

    /// `bot.inbound.0` .. `bot.inbound.<n-1>`: an executor consumes all of them.
    pub fn inbound_queues(&self) -> Vec<String> {
        (0..self.inbound_shards).map(Self::inbound_queue).collect()
    }

    pub fn exchanges(&self) -> Vec<ExchangeSpec> {
        vec![
            ExchangeSpec {
                name: DEAD_EXCHANGE.into(),
                kind: ExchangeKind::Fanout,
            },
            ExchangeSpec {
                name: INBOUND_SHARD_EXCHANGE.into(),
                kind: ExchangeKind::Direct,
            },
            ExchangeSpec {
                name: OUTBOUND_EXCHANGE.into(),
                kind: ExchangeKind::Direct,
            },
        ]
    }

    pub fn queues(&self) -> Vec<QueueSpec> {
        let ordered = QueueKind::Quorum {
            delivery_limit: Some(self.delivery_limit),
            single_active_consumer: true,
        };
        let mut queues = vec![QueueSpec {
            name: DEAD_LETTER_QUEUE.into(),
            kind: QueueKind::Quorum {
                delivery_limit: None,
                single_active_consumer: false,
            },
            dead_letter_exchange: None,
        }];
        queues.extend(self.inbound_queues().into_iter().map(|name| QueueSpec {
            name,
            kind: ordered.clone(),
            dead_letter_exchange: Some(DEAD_EXCHANGE.into()),
        }));
        queues.push(QueueSpec {
            name: SENDER_WHATSAPP_QUEUE.into(),
            kind: ordered,
            dead_letter_exchange: Some(DEAD_EXCHANGE.into()),
        });
        queues
    }

    pub fn bindings(&self) -> Vec<BindingSpec> {
        let mut bindings = vec![BindingSpec {
            queue: DEAD_LETTER_QUEUE.into(),
            exchange: DEAD_EXCHANGE.into(),
            routing_key: String::new(),
        }];
        bindings.extend((0..self.inbound_shards).map(|shard| BindingSpec {
            queue: Self::inbound_queue(shard),
            exchange: INBOUND_SHARD_EXCHANGE.into(),
            routing_key: shard.to_string(),
        }));
        bindings.push(BindingSpec {
            queue: SENDER_WHATSAPP_QUEUE.into(),
            exchange: OUTBOUND_EXCHANGE.into(),
            routing_key: WHATSAPP_ROUTING_KEY.into(),
        });
        bindings
    }

    /// Declares everything on `channel`: exchanges, then queues, then bindings.
    pub async fn declare(&self, channel: &Channel) -> Result<(), BrokerError> {
        for exchange in self.exchanges() {
            channel
                .exchange_declare(
                    short(&exchange.name, "exchange name")?,
                    exchange.kind.clone(),
                    ExchangeDeclareOptions {
                        durable: true,
                        ..ExchangeDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await?;
        }
        for queue in self.queues() {
            declare_queue(channel, &queue).await?;
        }
        for binding in self.bindings() {
            channel
                .queue_bind(
                    short(&binding.queue, "queue name")?,
                    short(&binding.exchange, "exchange name")?,
                    short(&binding.routing_key, "routing key")?,
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        Ok(())
    }
}

/// The reply queue of one API gateway replica: `gateway.replies.<instance-id>`.
pub fn reply_queue_name(instance_id: &str) -> String {
    format!("{REPLY_QUEUE_PREFIX}{instance_id}")
}

pub(crate) fn reply_queue_spec(name: String) -> QueueSpec {
    QueueSpec {
        name,
        kind: QueueKind::ExclusiveClassic,
        dead_letter_exchange: None,
    }
}

pub(crate) async fn declare_queue(channel: &Channel, queue: &QueueSpec) -> Result<(), BrokerError> {
    let mut arguments = FieldTable::default();
    let options = match queue.kind {
        QueueKind::Quorum {
            delivery_limit,
            single_active_consumer,
        } => {
            arguments.insert("x-queue-type".into(), long_string("quorum"));
            if single_active_consumer {
                arguments.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
            }
            if let Some(limit) = delivery_limit {
                arguments.insert(
                    "x-delivery-limit".into(),
                    AMQPValue::LongLongInt(i64::from(limit)),
                );
            }
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            }
        }
        QueueKind::ExclusiveClassic => QueueDeclareOptions {
            durable: false,
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        },
    };
    if let Some(exchange) = &queue.dead_letter_exchange {
        arguments.insert("x-dead-letter-exchange".into(), long_string(exchange));
        // Quorum queues can dead-letter at-least-once (the dead-lettered copy is confirmed
        // before the original is dropped); that strategy requires reject-publish overflow.
        if matches!(queue.kind, QueueKind::Quorum { .. }) {
            arguments.insert(
                "x-dead-letter-strategy".into(),
                long_string("at-least-once"),
            );
            arguments.insert("x-overflow".into(), long_string("reject-publish"));
        }
    }
    channel
        .queue_declare(short(&queue.name, "queue name")?, options, arguments)
        .await?;
    Ok(())
}

fn long_string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_inbound_shard_is_an_ordered_quorum_queue_bound_by_its_number() {
        let topology = Topology::with_shards(3);
        assert_eq!(
            topology.inbound_queues(),
            ["bot.inbound.0", "bot.inbound.1", "bot.inbound.2"]
        );
        let queues = topology.queues();
        for (shard, name) in topology.inbound_queues().into_iter().enumerate() {
            let queue = queues.iter().find(|q| q.name == name);
            assert_eq!(
                queue.map(|q| (&q.kind, q.dead_letter_exchange.as_deref())),
                Some((
                    &QueueKind::Quorum {
                        delivery_limit: Some(5),
                        single_active_consumer: true
                    },
                    Some(DEAD_EXCHANGE)
                ))
            );
            assert!(topology.bindings().contains(&BindingSpec {
                queue: name.clone(),
                exchange: INBOUND_SHARD_EXCHANGE.into(),
                routing_key: shard.to_string(),
            }));
        }
    }

    #[test]
    fn conversation_keys_spread_evenly_over_the_shards() {
        // 4,000 keys of each of the platform's two shapes (API `<integration>:<session uuid-ish>`,
        // WhatsApp `<integration>:<phone number id>:<wa_id>`): every shard within ±25% of its
        // share of 500 (binomial noise alone is about ±21).
        let topology = Topology::with_shards(8);
        let shapes: [fn(u32) -> String; 2] = [
            |n| format!("{}:s-{n:08x}-{}", n % 7 + 1, n.wrapping_mul(2_654_435_761)),
            |n| format!("{}:10987654321:4915{:08}", n % 5 + 1, n * 37),
        ];
        for shape in shapes {
            let mut counts = [0_u32; 8];
            for n in 0..4_000 {
                counts[usize::from(topology.shard_of(&shape(n)))] += 1;
            }
            for (shard, count) in counts.iter().enumerate() {
                assert!(
                    (375..=625).contains(count),
                    "shard {shard} got {count} of 4,000 keys: {counts:?}"
                );
            }
        }
    }

    #[test]
    fn a_conversation_goes_to_one_fixed_shard_whatever_the_broker_recovered() {
        let topology = Topology::with_shards(8);
        // Fixed values: a change of the hash would move live conversations between shards
        // during a rolling deployment (old and new publishers disagreeing).
        assert_eq!(topology.shard_of("1:s1"), 6);
        assert_eq!(topology.shard_of("2:pn:7"), 4);
        assert_eq!(Topology::with_shards(3).shard_of("1:s1"), 1);
        let spread: std::collections::BTreeSet<u16> = (0..100)
            .map(|n| topology.shard_of(&format!("2:pn:{n}")))
            .collect();
        assert_eq!(spread.len(), 8, "100 conversations use every shard");
        assert_eq!(
            topology.route(INBOUND_EXCHANGE, "1:s1"),
            (
                INBOUND_SHARD_EXCHANGE.to_owned(),
                topology.shard_of("1:s1").to_string()
            )
        );
        assert_eq!(
            topology.route(INBOUND_SHARD_EXCHANGE, "3"),
            (INBOUND_SHARD_EXCHANGE.to_owned(), "3".to_owned())
        );
        assert_eq!(Topology::with_shards(1).shard_of("anything"), 0);
    }

    #[test]
    fn the_dead_letter_queue_does_not_dead_letter_itself() {
        let queues = Topology::default().queues();
        let dead = queues.iter().find(|q| q.name == DEAD_LETTER_QUEUE);
        assert_eq!(dead.and_then(|q| q.dead_letter_exchange.clone()), None);
    }
}
