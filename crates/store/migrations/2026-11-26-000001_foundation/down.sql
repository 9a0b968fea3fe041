DROP TABLE whatsapp_integrations;
DROP TABLE api_integrations;
DROP TABLE integrations;
DROP TRIGGER bot_versions_no_update ON bot_versions;
DROP FUNCTION bot_versions_immutable();
DROP TABLE bot_versions;
DROP TABLE bots;
DROP TABLE operator_tokens;
DROP TABLE accounts;
