DROP INDEX whatsapp_integrations_token_expiry;
DROP TABLE outbound_batches;
