"""Seeded ground-truth values for one synthetic document (what the renderer prints and the extractor must find)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

__all__ = ["DocumentTruth", "LineItem", "sample_truth", "FIELDS_BY_TYPE"]

FIELDS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "invoice": ("invoice_number", "order_number", "po_number", "document_date", "due_date", "vendor_name",
                "customer_name", "customer_id", "subtotal_amount", "tax_amount", "total_amount", "currency"),
    "credit_memo": ("invoice_number", "rma_number", "document_date", "vendor_name", "customer_name", "customer_id",
                    "subtotal_amount", "tax_amount", "total_amount", "currency"),
    "packing_slip": ("order_number", "po_number", "document_date", "vendor_name", "customer_name", "customer_id",
                     "tracking_number", "carrier", "serial_numbers"),
    "rma_form": ("rma_number", "order_number", "document_date", "vendor_name", "customer_name", "customer_id",
                 "serial_numbers"),
    "delivery_receipt": ("order_number", "document_date", "vendor_name", "customer_name", "tracking_number",
                         "carrier"),
    "inspection_report": ("rma_number", "order_number", "document_date", "vendor_name", "customer_name",
                          "serial_numbers"),
}
PRICED_TYPES = ("invoice", "credit_memo")

_VENDOR_A = ["Brandt", "Nordlicht", "Van Dijk", "Lumière", "Acme", "Iberia", "Helvetia", "Orion", "Kestrel",
             "Falkner", "Delta", "Rivera", "Moreau", "Jansen", "Baltic", "Summit", "Polaris", "Atlas"]
_VENDOR_B = ["Tools", "Electronics", "Supply", "Components", "Hardware", "Trading", "Distribution", "Werkzeuge",
             "Outillage", "Techniek", "Suministros", "Industrial", "Systems", "Parts"]
_VENDOR_C = ["GmbH", "Ltd", "Inc.", "SARL", "B.V.", "S.L.", "AG", "LLC", "S.A.", "Sp. z o.o.", "& Co. KG", ""]
_FIRST = ["Anna", "Jan", "Marie", "Lukas", "Sofia", "Pieter", "Claire", "Javier", "Emma", "Tomasz", "Lea", "Hugo",
          "Olivia", "Daan", "Lucía", "Felix", "Chloé", "Noah", "Carmen", "Ruth"]
_LAST = ["Müller", "de Vries", "Dubois", "García", "Smith", "Kowalski", "Schneider", "Janssen", "Martin",
         "Fernández", "Taylor", "Weber", "Bakker", "Laurent", "López", "Brown", "Nowak", "Fischer"]
_COMPANY_CUSTOMER = ["Retail", "Handel", "Store", "Winkel", "Tienda", "Boutique", "Shop", "Markt"]
_PRODUCTS = ["Cordless drill 18V", "Impact driver", "Angle grinder 125mm", "LED work light", "Laser level",
             "Bluetooth speaker", "USB-C dock", "Wireless mouse", "Mechanical keyboard", "27in monitor",
             "Coffee grinder", "Espresso machine", "Router 6E", "Power bank 20000", "Circular saw blade",
             "Safety gloves L", "Tool case", "HDMI cable 2m", "Smart thermostat", "Label printer"]
CARRIERS = ["DHL", "UPS", "FedEx", "DPD", "GLS", "PostNL", "Royal Mail", "Colissimo", "Correos", "InPost", "USPS",
            "Swiss Post"]


@dataclass(slots=True)
class LineItem:
    sku: str
    description: str
    quantity: int
    unit_price: float | None
    amount: float | None
    serials: list[str] = field(default_factory=list)


@dataclass(slots=True)
class DocumentTruth:
    document_type: str
    fields: dict[str, Any]
    line_items: list[LineItem]
    distractor_dates: list[date]
    distractor_ids: list[str]
    tax_rate: float

    def to_json(self) -> dict[str, Any]:
        return {
            "document_type": self.document_type,
            "fields": {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.fields.items()},
            "line_items": [
                {"sku": li.sku, "description": li.description, "quantity": li.quantity,
                 "unit_price": li.unit_price, "amount": li.amount}
                for li in self.line_items
            ],
        }


def _ident(rng: random.Random, prefixes: list[str], digits: tuple[int, int], long_numeric: float = 0.0) -> str:
    if rng.random() < long_numeric:
        # Plenty of ERPs print bare 9-13 digit numbers, which look like parcel tracking numbers.
        n = rng.randint(9, 13)
        return str(rng.randint(10 ** (n - 1), 10**n - 1))
    prefix = rng.choice(prefixes)
    n = rng.randint(*digits)
    num = str(rng.randint(10 ** (n - 1), 10**n - 1))
    if prefix and rng.random() < 0.35:
        return f"{prefix}-{rng.randint(2024, 2026)}-{num}"
    return f"{prefix}-{num}" if prefix else num


def _tracking(rng: random.Random, carrier: str) -> str:
    alnum = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    if carrier == "UPS":
        return "1Z" + "".join(rng.choice(alnum) for _ in range(16))
    if carrier == "PostNL":
        return "3S" + "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(4)) + str(rng.randint(10**6, 10**7 - 1))
    if carrier in ("Royal Mail", "Colissimo", "Correos", "Swiss Post", "USPS") and rng.random() < 0.6:
        return "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2)) + str(rng.randint(10**8, 10**9 - 1)) \
            + rng.choice(["GB", "FR", "ES", "CH", "US"])
    if carrier == "DHL" and rng.random() < 0.5:
        return "JJD" + str(rng.randint(10**13, 10**14 - 1))
    n = rng.choice([10, 12, 14])
    return str(rng.randint(10 ** (n - 1), 10**n - 1))


def sample_truth(rng: random.Random, document_type: str, currency: str) -> DocumentTruth:
    wanted = FIELDS_BY_TYPE[document_type]
    vendor = f"{rng.choice(_VENDOR_A)} {rng.choice(_VENDOR_B)} {rng.choice(_VENDOR_C)}".strip()
    if rng.random() < 0.5:
        customer = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    else:
        customer = f"{rng.choice(_LAST)} {rng.choice(_COMPANY_CUSTOMER)}"
    doc_date = date(2024, 1, 1) + timedelta(days=rng.randint(0, 1000))
    carrier = rng.choice(CARRIERS)
    sku_prefix = rng.choice(["PT", "EL", "HW", "AC", "KB", "NX"])
    priced = document_type in PRICED_TYPES
    items: list[LineItem] = []
    n_items = rng.choice([1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 12, 26])
    for _ in range(n_items):
        qty = rng.choice([1, 1, 1, 2, 2, 3, 4, 5, 10, 12, 25])
        price = round(rng.uniform(2, 900) * (1 if rng.random() < 0.8 else 10), 2)
        sku = f"{sku_prefix}-{rng.choice(['DRL', 'SPK', 'MON', 'CBL', 'GRD', 'LMP', 'KEY'])}-{rng.randint(100, 9999)}"
        serials = []
        if rng.random() < 0.5:
            serials = [f"{sku.split('-')[1]}{rng.randint(10, 99)}-{rng.randint(10**6, 10**7 - 1)}"
                       for _ in range(min(qty, 2))]
        items.append(LineItem(sku, rng.choice(_PRODUCTS), qty, price if priced else None,
                              round(qty * price, 2) if priced else None, serials))
    tax_rate = rng.choice([0.19, 0.21, 0.20, 0.077, 0.23, 0.08, 0.0, 0.10])
    fields: dict[str, Any] = {}
    for name in wanted:
        if name == "invoice_number":
            fields[name] = _ident(rng, ["INV", "RE", "F", "FV", "", ""], (5, 8), long_numeric=0.25)
        elif name == "order_number":
            fields[name] = _ident(rng, ["SO", "ORD", "AB", "CMD", "PED", ""], (5, 7), long_numeric=0.25)
        elif name == "po_number":
            fields[name] = _ident(rng, ["PO", "BE", "", "4500"], (5, 7), long_numeric=0.25)
        elif name == "rma_number":
            fields[name] = _ident(rng, ["RMA", "RET", "R"], (5, 7))
        elif name == "customer_id":
            fields[name] = _ident(rng, ["C", "K", "CU", "CL", ""], (5, 7), long_numeric=0.25)
        elif name == "document_date":
            fields[name] = doc_date
        elif name == "due_date":
            fields[name] = doc_date + timedelta(days=rng.choice([14, 30, 45, 60]))
        elif name == "vendor_name":
            fields[name] = vendor
        elif name == "customer_name":
            fields[name] = customer
        elif name == "currency":
            fields[name] = currency
        elif name == "carrier":
            fields[name] = carrier
        elif name == "tracking_number":
            fields[name] = _tracking(rng, carrier)
        elif name == "serial_numbers":
            serials = [s for li in items for s in li.serials]
            if not serials:
                items[0].serials = [f"SN{rng.randint(10**7, 10**8 - 1)}"]
                serials = list(items[0].serials)
            fields[name] = serials
    if priced:
        subtotal = round(sum(li.amount or 0.0 for li in items), 2)
        tax = round(subtotal * tax_rate, 2)
        fields["subtotal_amount"] = subtotal
        fields["tax_amount"] = tax
        fields["total_amount"] = round(subtotal + tax, 2)
    distractor_dates = [doc_date - timedelta(days=rng.randint(1, 20)), doc_date + timedelta(days=rng.randint(1, 9))]
    distractor_ids = [_ident(rng, ["DE", "NL", "FR", "ES", "GB"], (9, 9)), _ident(rng, ["LS", "DN", "REF"], (5, 7))]
    return DocumentTruth(document_type, fields, items, distractor_dates, distractor_ids, tax_rate)
