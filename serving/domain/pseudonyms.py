"""Pseudonymised views of decisions and audit entries, for roles that must not see who a customer is.

A customer's id or name becomes ``pseu:<16 hex>``, an HMAC-SHA256 under a deployment secret: the same person gets
the same pseudonym everywhere (an auditor can still follow one customer across decisions), but nobody without the
key can reverse it or test a guessed name against it. Standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

__all__ = ["PERSONAL_FIELDS", "Pseudonymiser"]

PERSONAL_FIELDS = frozenset({
    "customer_id", "customer_name", "customer_email", "customer_phone", "customer_address",
    "email", "phone", "address", "ship_to", "bill_to", "contact_name",
})
"""Keys whose values are personal data wherever they occur in a document (request, extraction, decision)."""


class Pseudonymiser:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the pseudonymisation key must have at least 16 bytes")
        self._key = key

    def pseudonym(self, value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        return "pseu:" + hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:16]

    def apply(self, data: Any) -> Any:
        """A copy of ``data`` (JSON-like) with every personal field's value replaced by its pseudonym.

        An extracted field is ``{"value", "confidence", "page", "bbox"}``: only its value is replaced.
        """
        if isinstance(data, list):
            return [self.apply(item) for item in data]
        if not isinstance(data, dict):
            return data
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key in PERSONAL_FIELDS and value is not None:
                if isinstance(value, dict) and "value" in value:
                    out[key] = {**value, "value": self._leaf(value["value"])}
                else:
                    out[key] = self._leaf(value)
            else:
                out[key] = self.apply(value)
        return out

    def apply_json_text(self, text: str) -> str:
        """The same for a JSON document held as text (an audit entry's payload)."""
        return json.dumps(self.apply(json.loads(text)), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def _leaf(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.pseudonym(v) for v in value]
        if isinstance(value, dict):
            return {k: self.pseudonym(v) for k, v in value.items()}
        return self.pseudonym(value)
