//! A turn's future is what every delivery's task holds, and a task's future is copied whole
//! when it is spawned, when its output is stored and when that is read: its size is paid
//! several times per turn (callgrind found 85k instructions of `memcpy` per turn when the
//! pipelined writes were inline). This keeps it in check.

use std::sync::Arc;
use std::time::Duration;

use contracts::v1::{Channel, ConversationKey, InboundEvent, Input, SchemaVersion};
use contracts::IntegrationId;
use flow::engine::{Engine, EngineLimits};
use store::turns::Commit;

use super::TurnContext;
use crate::http_call::FlowHttp;
use crate::versions::VersionCache;

/// Bytes a turn's future may take: 624 with each attempt boxed (debug and release alike), 5.6
/// KiB in a debug build with only the pipelined writes boxed, about 8 KiB before either.
const BUDGET: usize = 1024;

#[test]
fn a_turns_future_stays_small() {
    let store = store::Store::connect_without_migrations(&store::StoreOptions {
        url: "postgres://nobody@127.0.0.1:1/none".into(),
        max_connections: 1,
        connect_timeout: Duration::from_secs(1),
    })
    .expect("a lazy pool");
    let context = TurnContext {
        store,
        engine: Engine::new(EngineLimits::default()),
        versions: VersionCache::default(),
        http: Arc::new(FlowHttp {
            allow_private_network: false,
            max_response_bytes: 1024,
        }),
        api_session_ttl: Duration::from_secs(60),
        alerter: alerts::Alerter::disabled(),
        lock_timeout: Duration::from_secs(1),
        commit: Commit::Durable,
    };
    let integration: IntegrationId = "1".parse().expect("id");
    let event = InboundEvent {
        schema: SchemaVersion::V1,
        event_id: "e".into(),
        integration_id: integration,
        channel: Channel::Api,
        conversation_key: ConversationKey::api(integration, "s"),
        session_id: "s".into(),
        user_identifier: "s".into(),
        received_at_unix_ms: 0,
        input: Input::Text { text: "hi".into() },
        reply: None,
        idempotency: None,
        whatsapp: None,
    };
    let turn = context.handle_traced(&event);
    let size = std::mem::size_of_val(&turn);
    assert!(size <= BUDGET, "a turn's future takes {size} bytes");
}
