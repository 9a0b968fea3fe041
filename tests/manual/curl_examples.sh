curl -X POST \
  'https://your-instance.intalos.de/api/integrations/api/31/session/' \
  -H 'Content-Type: application/json' \
  -H 'X-API-Key: your_api_key_here' \
  -d '{
    "session_id": "user-123",
    "user_identifier": "user-123"
  }'

curl -X POST \
  'https://your-instance.intalos.de/api/integrations/api/31/session/user-123/message/' \
  -H 'Content-Type: application/json' \
  -H 'X-API-Key: your_api_key_here' \
  -d '{
    "message": "Hello, I need help"
  }'

curl -X POST \
  'https://your-instance.intalos.de/api/integrations/api/31/session/user-123/message/' \
  -H 'Content-Type: application/json' \
  -H 'X-API-Key: your_api_key_here' \
  -d '{
    "selected_option_id": "component_id_xyz"
  }'
