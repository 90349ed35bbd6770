"""The QuantEnergx Python example: the seed's client (quantenergx_seed_client.py), made to work.

    npm run example -- python [--url http://127.0.0.1:8787] [--user user-123]

Needs python-socketio (Debian: `apt install python3-socketio`; pip: `pip install "python-socketio[client]"`).
`npm run example` passes SERVER, USER_ID, TOKEN and PUBLISH_TOKEN in the environment.

The seed's class, as written, connects and authenticates, then never subscribes to anything:
python-socketio's `@sio.event` registers a handler under the *function's name*, so its
`def auth_success` listens for an event called "auth_success", but the server emits
"auth-success" (with a hyphen, as the seed's own JavaScript client listens for it). The same
holds for market_update, trade_update, order_update and system_alert. The fix, in
`QuantEnergxClient.setup_handlers` below: register the same handlers under the names the
server emits, with `sio.on('auth-success', ...)`.

Once the server confirms the subscriptions, this script plays the market feed and the trading
back end: it publishes a tick, a trade, an order update and a system alert through
POST /v1/ingest (with PUBLISH_TOKEN), and the client prints each as it arrives. Ctrl-C stops it.
"""
import builtins
import json
import os
import signal
import sys
import threading
import urllib.request
from datetime import datetime, timezone

from quantenergx_seed_client import QuantEnergxWebSocket

# python-socketio runs each event's handler on a thread of its own, and print() writes the text
# and its newline separately: two events arriving together can print "…natural_gasMarket update".
# The seed's handlers call print, so one lock around print keeps every line whole.
_print_lock = threading.Lock()
_print = print


def _print_whole_lines(*args, **kwargs):
    with _print_lock:
        _print(*args, **kwargs)


builtins.print = _print_whole_lines


class QuantEnergxClient(QuantEnergxWebSocket):
    """The seed's client with its event names fixed; everything else is the seed's."""

    def setup_handlers(self):
        # The seed's handlers: `connect` and `disconnect` work as written (python-socketio's own
        # event names); its auth_success, market_update, ... never fire (see above).
        super().setup_handlers()

        # THE FIX: the server's event names have hyphens. `sio.on(name, handler)` registers a
        # handler under an explicit name; the seed's `@self.sio.event def auth_success` cannot.
        @self.sio.on('auth-success')
        def auth_success(data):
            print('Authentication successful:', data)
            self.subscribe_to_market_data(['crude_oil', 'natural_gas'])
            self.subscribe_to_trading_updates()

        self.sio.on('market-update', self.handle_market_update)
        self.sio.on('trade-update', self.handle_trade_update)
        self.sio.on('order-update', self.handle_order_update)
        self.sio.on('system-alert', self.handle_system_alert)
        # Beyond the seed: the server's errors (a bad token, a refused subscription) would
        # otherwise go unnoticed, and the confirmations tell when to publish.
        self.sio.on('auth-error', lambda data: print('Authentication failed:', data))
        self.sio.on('error', lambda data: print('Error:', data))
        self.sio.on('market-subscribed', lambda data: print(data['message']))
        self.sio.on('orders-subscribed', self.on_orders_subscribed)
        self.subscribed = threading.Event()

    def on_orders_subscribed(self, data):
        print(data['message'])
        self.subscribed.set()


def publish(server, publish_token, events):
    """POST /v1/ingest, as a market feed or the trading back end would."""
    request = urllib.request.Request(
        f'{server}/v1/ingest',
        data=json.dumps(events).encode(),
        headers={'Authorization': f'Bearer {publish_token}', 'Content-Type': 'application/json'},
        method='POST',
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        for result in json.load(response)['results']:
            print(f"  → published {result['event']} seq {result['seq']}")


def demo_events(user_id):
    now = datetime.now(timezone.utc).isoformat().replace('+00:00', 'Z')
    return [
        {'event': 'market-update', 'data': {'type': 'MARKET_UPDATE', 'timestamp': now, 'payload': {
            'commodity': 'crude_oil', 'price': 74.25, 'change': 0.75, 'changePercent': 1.02,
            'volume': 125000, 'timestamp': now, 'bid': 74.24, 'ask': 74.26}}},
        {'event': 'trade-update', 'data': {'type': 'TRADE_UPDATE', 'timestamp': now, 'userId': user_id, 'payload': {
            'id': 'trade-123', 'orderId': 'order-456', 'userId': user_id, 'commodity': 'crude_oil',
            'quantity': 1000, 'price': 74.25, 'side': 'buy', 'status': 'executed', 'executionTime': now}}},
        {'event': 'order-update', 'data': {'type': 'ORDER_UPDATE', 'timestamp': now, 'userId': user_id, 'payload': {
            'id': 'order-456', 'userId': user_id, 'status': 'partially_filled', 'filledQuantity': 500,
            'remainingQuantity': 500, 'averagePrice': 74.23, 'timestamp': now}}},
        {'event': 'system-alert', 'data': {'type': 'SYSTEM_ALERT', 'timestamp': now, 'payload': {
            'alertType': 'market_volatility', 'severity': 'warning',
            'message': 'Crude oil volatility above its 30-day average',
            'affectedCommodities': ['crude_oil'], 'timestamp': now}}},
    ]


def main():
    server = os.environ.get('SERVER', 'http://127.0.0.1:8787').rstrip('/')
    user_id = os.environ.get('USER_ID', 'user-123')
    token, publish_token = os.environ.get('TOKEN'), os.environ.get('PUBLISH_TOKEN')
    if not token or not publish_token:
        sys.exit('TOKEN and PUBLISH_TOKEN not set: run it with `npm run example -- python` (it signs them).')

    # The token's `sub` must equal the user id the client authenticates as.
    client = QuantEnergxClient(server, user_id, token)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        client.connect()
        if not client.subscribed.wait(15):
            sys.exit('not subscribed within 15 s')
        print('publishing a tick, a trade, an order update and an alert through POST /v1/ingest')
        publish(server, publish_token, demo_events(user_id))
        print('listening; Ctrl-C to stop')
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        client.disconnect()


if __name__ == '__main__':
    main()
