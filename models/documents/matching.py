"""Three-way match: the return request against what its documents say (order, SKU, quantity, amount, serials)."""

from __future__ import annotations

from typing import Any

__all__ = ["match_documents"]


def _finding(code: str, severity: str, detail: str, documents: list[str]) -> dict[str, Any]:
    return {"code": code, "severity": severity, "detail": detail, "documents": documents}


def _norm(value: Any) -> str:
    return "".join(ch for ch in str(value).upper() if ch.isalnum())


def _field(extraction: dict[str, Any], name: str) -> Any:
    entry = (extraction.get("fields") or {}).get(name)
    return None if entry is None else entry.get("value")


def match_documents(request: dict[str, Any], extractions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Findings where the request and its documents disagree (empty when everything that can be compared agrees).

    Severities: ``high`` (likely fraud or error, route to review), ``medium`` (worth a look), ``info``.
    """
    findings: list[dict[str, Any]] = []
    order = request.get("order") or {}
    line = request.get("line") or {}
    readable = []
    for ex in extractions:
        name = str(ex.get("file") or "")
        if ex.get("error"):
            err = ex["error"]
            findings.append(_finding("document_unreadable", "medium",
                                     f"{name or 'a document'} could not be read: {err.get('code')}", [name]))
        else:
            readable.append(ex)
    if not readable:
        return findings

    order_id = order.get("order_id")
    if order_id:
        stated = {(ex.get("file") or ""): _field(ex, "order_number") for ex in readable}
        mismatched = [f for f, v in stated.items() if v is not None and _norm(v) != _norm(order_id)]
        if mismatched:
            values = sorted({str(stated[f]) for f in mismatched})
            findings.append(_finding("order_number_mismatch", "high",
                                     f"request order {order_id}, documents say {', '.join(values)}", mismatched))
        elif all(v is None for v in stated.values()):
            findings.append(_finding("order_number_not_found", "info", "no document states an order number", []))

    currency = order.get("currency")
    for ex in readable:
        doc_currency = _field(ex, "currency")
        if currency and doc_currency and doc_currency != currency:
            findings.append(_finding("currency_mismatch", "medium",
                                     f"order in {currency}, document in {doc_currency}", [ex.get("file") or ""]))

    sku = line.get("sku")
    with_items = [ex for ex in readable if ex.get("line_items")]
    matches = [(ex.get("file") or "", li) for ex in with_items for li in ex["line_items"]
               if sku and li.get("sku") and _norm(li["sku"]) == _norm(sku)]
    if sku and with_items and not matches:
        findings.append(_finding("sku_not_on_documents", "high", f"SKU {sku} is on none of the documents' lines",
                                 [ex.get("file") or "" for ex in with_items]))
    quantity = line.get("quantity")
    if quantity is not None and matches:
        on_docs = max(li.get("quantity") or 0 for _, li in matches)
        if quantity > on_docs:
            findings.append(_finding("quantity_exceeds_documents", "high",
                                     f"returning {quantity}, documents show at most {on_docs}", [f for f, _ in matches]))

    refund = request.get("refund_amount")
    if refund is not None:
        unit_price = line.get("unit_price")
        priced = [(f, li) for f, li in matches if li.get("amount") is not None or li.get("unit_price") is not None]
        if priced:
            ceiling = max((li.get("unit_price") or 0) * (quantity or li.get("quantity") or 1)
                          if li.get("unit_price") is not None else li["amount"] for _, li in priced)
            if refund > ceiling + 0.01:
                findings.append(_finding("refund_exceeds_invoiced", "high",
                                         f"refund {refund:.2f} above the invoiced {ceiling:.2f}", [f for f, _ in priced]))
        totals = [(ex.get("file") or "", _field(ex, "total_amount")) for ex in readable
                  if ex.get("document_type") == "invoice" and _field(ex, "total_amount") is not None]
        if totals and refund > max(t for _, t in totals) + 0.01:
            findings.append(_finding("refund_exceeds_invoice_total", "high",
                                     f"refund {refund:.2f} above invoice total {max(t for _, t in totals):.2f}",
                                     [f for f, _ in totals]))
        if unit_price is not None and quantity and priced and not any(
            li.get("unit_price") is not None and abs(li["unit_price"] - unit_price) <= 0.01 for _, li in priced
        ):
            findings.append(_finding("unit_price_mismatch", "medium",
                                     f"request unit price {unit_price:.2f} differs from the documents",
                                     [f for f, _ in priced]))

    serials = [s for s in (line.get("serial_numbers") or []) if s]
    doc_serials = {(ex.get("file") or ""): {_norm(s) for s in (_field(ex, "serial_numbers") or [])} for ex in readable}
    known = set().union(*doc_serials.values()) if doc_serials else set()
    if serials and known:
        missing = [s for s in serials if _norm(s) not in known]
        if missing:
            findings.append(_finding("serial_not_on_documents", "high",
                                     f"serial {', '.join(missing)} not listed on the documents",
                                     [f for f, v in doc_serials.items() if v]))
    return findings
