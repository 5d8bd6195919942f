"""Cross-check of src/webhook_signature.rs against the Standard Webhooks reference
library for Python (`pip install standardwebhooks`), driven by tests/signature_interop.rs.

Reads {"secret", "cases": [{"id", "timestamp", "body", "signature"}]} on stdin: verifies
each case with the reference library, signs each case's id/timestamp/body itself, and
writes {"verified": [bool], "signed": [signature]} on stdout."""

import json
import sys
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

request = json.load(sys.stdin)
webhook = Webhook(request["secret"])
verified, signed = [], []
for case in request["cases"]:
    headers = {
        "webhook-id": case["id"],
        "webhook-timestamp": str(case["timestamp"]),
        "webhook-signature": case["signature"],
    }
    try:
        webhook.verify(case["body"], headers, json_parse=False)
        verified.append(True)
    except WebhookVerificationError:
        verified.append(False)
    at = datetime.fromtimestamp(case["timestamp"], tz=timezone.utc)
    signed.append(webhook.sign(case["id"], at, case["body"]))
json.dump({"verified": verified, "signed": signed}, sys.stdout)
