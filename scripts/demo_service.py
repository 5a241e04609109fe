"""A tiny stand-in for Nordwerk's purchasing system, for the demo: GET /purchase-orders/PO-nnnnn answers
JSON from sample_tenants/tools/nordwerk-maint/purchase_orders.json to callers bearing $NORDWERK_ERP_TOKEN.

    python scripts/demo_service.py PORT
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ORDERS = Path(__file__).resolve().parent.parent / "sample_tenants" / "tools" / "nordwerk-maint" / "purchase_orders.json"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        sys.stderr.write(f"demo service: {self.command} {self.path} -> {args[1] if len(args) > 1 else ''}\n")

    def do_GET(self):
        orders = json.loads(ORDERS.read_text(encoding="utf-8"))
        token = os.environ.get("NORDWERK_ERP_TOKEN", "")
        po = self.path.rsplit("/", 1)[-1]
        if not token or self.headers.get("Authorization") != f"Bearer {token}":
            code, body = 401, {"error": "unauthorized"}
        elif self.path.startswith("/purchase-orders/") and po in orders:
            code, body = 200, {"purchase order": po, **orders[po]}
        else:
            code, body = 404, {"error": f"no purchase order {po}"}
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
