"""Pure logic of document extraction: value parsing in five locales, labels, checks, matching, the generator."""

from __future__ import annotations

from datetime import date

import pytest

from returns_triage.datasets.documents import FAMILIES, HELDOUT_FAMILIES, TRAIN_FAMILIES, generate_documents
from returns_triage.datasets.documents.formats import format_amount, format_date, format_money
from returns_triage.models.documents.checks import run_checks
from returns_triage.models.documents.lexicon import concepts_in
from returns_triage.models.documents.matching import match_documents
from returns_triage.models.documents.normalize import (
    is_identifier,
    is_tracking_number,
    parse_amount,
    parse_carrier,
    parse_currency,
    parse_date,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,234.56", 1234.56),
        ("1.234,56", 1234.56),
        ("1'234.50", 1234.5),
        ("1234,56", 1234.56),
        ("€1,234.56", 1234.56),
        ("$12.00", 12.0),
        ("1.234.567,89", 1234567.89),
        ("(12.00)", -12.0),
        ("-5,10", -5.1),
        ("0.00", 0.0),
    ],
)
def test_amounts_parse_in_every_style(text: str, value: float) -> None:
    assert parse_amount(text) == value


@pytest.mark.parametrize("text", ["1.234.56", "12", "2026", "abc", "12.3", "", "04.03.2026", "1,2,3"])
def test_non_amounts_are_rejected(text: str) -> None:
    assert parse_amount(text) is None


def test_amounts_without_decimals_only_when_asked() -> None:
    assert parse_amount("1.234", require_decimals=False) == 1234.0
    assert parse_amount("25", require_decimals=False) == 25.0


@pytest.mark.parametrize(
    ("text", "month_first", "iso"),
    [
        ("2026-03-04", False, "2026-03-04"),
        ("04.03.2026", False, "2026-03-04"),
        ("04/03/2026", False, "2026-03-04"),
        ("03/04/26", True, "2026-03-04"),
        ("04-03-2026", False, "2026-03-04"),
        ("4 March 2026", False, "2026-03-04"),
        ("March 4, 2026", False, "2026-03-04"),
        ("4. März 2026", False, "2026-03-04"),
        ("4 mars 2026", False, "2026-03-04"),
        ("4 maart 2026", False, "2026-03-04"),
        ("4 de marzo de 2026", False, "2026-03-04"),
        ("25/12/26", True, "2026-12-25"),  # a day above 12 wins over the document's convention
        ("2026/03/04", False, "2026-03-04"),
        ("04-Mar-2026", False, "2026-03-04"),
        ("4-mrt-26", False, "2026-03-04"),
    ],
)
def test_dates_parse_in_every_style(text: str, month_first: bool, iso: str) -> None:
    parsed = parse_date(text, month_first=month_first)
    assert parsed is not None and parsed.isoformat() == iso


@pytest.mark.parametrize("text", ["31.02.2026", "2026", "13/13/26", "hello 2026", "12.50"])
def test_impossible_dates_are_rejected(text: str) -> None:
    assert parse_date(text) is None


@pytest.mark.parametrize("style", ["iso", "dots", "dmy_slash", "dmy_dash", "long", "us_long"])
@pytest.mark.parametrize("lang", ["en", "de", "fr", "nl", "es"])
def test_generator_dates_round_trip(style: str, lang: str) -> None:
    d = date(2026, 3, 4)
    assert parse_date(format_date(d, style, lang)) == d


@pytest.mark.parametrize("style", ["en", "eu", "ch", "plain_comma", "plain_dot"])
def test_generator_amounts_round_trip(style: str) -> None:
    for value in (0.5, 12.0, 1234.56, 987654.32):
        assert parse_amount(format_amount(value, style)) == value


def test_currency_codes_and_symbols() -> None:
    assert parse_currency("EUR") == "EUR"
    assert parse_currency("€") == "EUR"
    assert parse_currency("£12.00") == "GBP"
    assert parse_currency("CHF") == "CHF"
    assert parse_currency(format_money(10.0, "en", "PLN", "code_suffix")) == "PLN"
    assert parse_currency("XYZ") is None


def test_identifiers_and_tracking_numbers() -> None:
    assert is_identifier("INV-2026-00123")
    assert is_identifier("SO-88123")
    assert is_identifier("1ZVFRAJCAHSX3AESSX")  # UPS numbers may hold only two digits
    assert not is_identifier("Invoice")
    assert not is_identifier("12.50")
    assert not is_identifier("04.03.2026")
    assert is_tracking_number("1Z999AA10123456784")
    assert is_tracking_number("JJD000390007827245")
    assert is_tracking_number("RR123456785GB")
    assert not is_tracking_number("SO-88123")
    assert parse_carrier("Royal Mail") == "Royal Mail"
    assert parse_carrier("dhl") == "DHL"


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Invoice No.", {"invoice", "number"}),
        ("Rechnungsnummer", {"invoice", "number"}),
        ("Date d'échéance", {"date", "due"}),
        ("Nº de factura", {"invoice", "number"}),
        ("Factuurdatum", {"invoice", "date"}),
        ("**Klantnummer:**", {"customer", "number"}),
        ("Subtotal", {"subtotal"}),
    ],
)
def test_label_concepts_across_languages(label: str, expected: set[str]) -> None:
    assert expected <= concepts_in(label)
    if label == "Subtotal":
        assert "total" not in concepts_in(label)


def _f(value: object) -> dict[str, object]:
    return {"value": value, "confidence": 0.99, "page": 1, "bbox": [0, 0, 1, 1]}


def test_checks_pass_on_consistent_totals_and_fail_otherwise() -> None:
    items = [{"sku": "A", "description": "x", "quantity": 2, "unit_price": 10.0, "amount": 20.0}]
    good = {"subtotal_amount": _f(20.0), "tax_amount": _f(4.2), "total_amount": _f(24.2), "currency": _f("EUR"),
            "document_date": _f("2026-03-04"), "due_date": _f("2026-04-03")}
    results = {c.name: c.passed for c in run_checks(good, items, today=date(2026, 11, 1))}
    assert all(results.values()) and "subtotal_plus_tax_equals_total" in results
    bad = dict(good, total_amount=_f(30.0), currency=_f("EUX"), due_date=_f("2025-01-01"))
    failed = {c.name for c in run_checks(bad, items, today=date(2026, 11, 1)) if not c.passed}
    assert {"subtotal_plus_tax_equals_total", "currency_is_iso_4217", "due_date_after_document_date"} <= failed


def test_checks_flag_dates_far_in_the_future() -> None:
    checks = run_checks({"document_date": _f("2031-01-01")}, [], today=date(2026, 11, 1))
    assert [c.passed for c in checks] == [False]


def _extraction(**fields: object) -> dict[str, object]:
    items = fields.pop("line_items", [])
    return {"file": "inv.pdf", "document_type": "invoice", "document_confidence": 0.9, "error": None,
            "fields": {k: _f(v) for k, v in fields.items()}, "line_items": items, "checks": []}


REQUEST = {
    "order": {"order_id": "SO-88123", "currency": "EUR"},
    "line": {"sku": "PT-DRL-18V-BL", "quantity": 1, "unit_price": 129.0, "serial_numbers": ["DRL18-7731902"]},
    "refund_amount": 129.0,
}


def test_match_agrees_when_documents_back_the_request() -> None:
    ex = _extraction(order_number="SO-88123", currency="EUR", serial_numbers=["DRL18-7731902"], total_amount=153.51,
                     line_items=[{"sku": "PT-DRL-18V-BL", "description": "drill", "quantity": 1, "unit_price": 129.0,
                                  "amount": 129.0}])
    assert match_documents(REQUEST, [ex]) == []


def test_match_reports_every_disagreement() -> None:
    ex = _extraction(order_number="SO-99999", currency="GBP", serial_numbers=["OTHER-1"], total_amount=60.0,
                     line_items=[{"sku": "PT-DRL-18V-BL", "description": "drill", "quantity": 1, "unit_price": 50.0,
                                  "amount": 50.0}])
    request = dict(REQUEST, line=dict(REQUEST["line"], quantity=2))
    codes = {f["code"] for f in match_documents(request, [ex])}
    assert {"order_number_mismatch", "currency_mismatch", "serial_not_on_documents", "quantity_exceeds_documents",
            "refund_exceeds_invoiced", "refund_exceeds_invoice_total", "unit_price_mismatch"} <= codes


def test_match_reports_unreadable_documents_and_missing_sku() -> None:
    broken = {"file": "scan.pdf", "error": {"code": "no_text_layer", "message": "scanned"}}
    ex = _extraction(line_items=[{"sku": "X-1", "description": "y", "quantity": 1, "unit_price": None, "amount": None}])
    findings = match_documents(REQUEST, [broken, ex])
    assert {f["code"] for f in findings} >= {"document_unreadable", "sku_not_on_documents"}
    assert all({"code", "severity", "detail", "documents"} <= set(f) for f in findings)


def test_generator_is_seeded_and_covers_families() -> None:
    a = list(generate_documents(6, seed=7))
    b = list(generate_documents(6, seed=7))
    assert [d.pdf for d in a] == [d.pdf for d in b]
    assert len(FAMILIES) >= 8 and set(HELDOUT_FAMILIES).isdisjoint(TRAIN_FAMILIES)
    assert {f.lang for f in FAMILIES} == {"en", "de", "fr", "nl", "es"}
    assert {c for f in FAMILIES for c in f.currencies} >= {"EUR", "USD", "GBP", "CHF", "PLN"}
    assert all(d.pdf.startswith(b"%PDF-") for d in a)
