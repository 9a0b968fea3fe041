DROP TABLE webhook_receipts;
DROP TABLE outbound_messages;
