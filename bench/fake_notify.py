"""A fake Notification service for bench/stress.sh: accepts every
POST /api/v1/notifications with 202 and appends its Idempotency-Key to a file, so the
script can tell which confirmations arrived and how often.

Usage: python3 bench/fake_notify.py PORT KEYS_FILE
"""

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
KEYS = open(sys.argv[2], "a", buffering=1)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        key = self.headers.get("idempotency-key", "")
        if self.path != "/api/v1/notifications" or not key:
            self.send_response(400)
        else:
            with LOCK:
                KEYS.write(key + "\n")
            self.send_response(202)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self):
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
