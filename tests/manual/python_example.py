import requests

API_BASE_URL = 'https://your-instance.intalos.de/api/integrations/api'
INTEGRATION_ID = 31
API_KEY = 'your_api_key_here'

headers = {
    'Content-Type': 'application/json',
    'X-API-Key': API_KEY
}

def start_session(session_id=None):
    """Start a new bot session."""
    url = f'{API_BASE_URL}/{INTEGRATION_ID}/session/'
    data = {
        'session_id': session_id or f'user-{int(time.time())}',
        'user_identifier': 'user-123'
    }
    response = requests.post(url, json=data, headers=headers)
    response.raise_for_status()
    return response.json()

def send_message(session_id, message):
    """Send a text message to the bot."""
    url = f'{API_BASE_URL}/{INTEGRATION_ID}/session/{session_id}/message/'
    data = {'message': message}
    response = requests.post(url, json=data, headers=headers)
    response.raise_for_status()
    return response.json()

def select_option(session_id, option_id):
    """Select a button or list option."""
    url = f'{API_BASE_URL}/{INTEGRATION_ID}/session/{session_id}/message/'
    data = {'selected_option_id': option_id}
    response = requests.post(url, json=data, headers=headers)
    response.raise_for_status()
    return response.json()

# Usage example
session = start_session('my-user-123')
print(f"Bot: {session['message']['text']}")

response = send_message(session['session_id'], 'Hello!')
print(f"Bot: {response['message']['text']}")

if response['message']['type'] == 'buttons':
    option_id = response['message']['options'][0]['id']
    response2 = select_option(session['session_id'], option_id)
    print(f"Bot: {response2['message']['text']}")
