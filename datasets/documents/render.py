"""Render one synthetic document to PDF bytes with reportlab, recording where every field value was printed."""

from __future__ import annotations

import io
import random
from datetime import date, timedelta
from dataclasses import dataclass, field
from typing import Any

from reportlab.lib.pagesizes import A4, LETTER
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from returns_triage.datasets.documents.families import LayoutFamily
from returns_triage.datasets.documents.formats import (
    DISTRACTOR_LABELS,
    LABELS,
    NOISE,
    TABLE_HEADS,
    TITLES,
    format_amount,
    format_date,
    format_money,
)
from returns_triage.datasets.documents.values import DocumentTruth

__all__ = ["FieldBox", "render_document", "render_other"]

_CREDIT_NO = {"en": "Credit Note No.", "de": "Gutschrift Nr.", "fr": "Avoir n°", "nl": "Creditnota nr.",
              "es": "Abono nº"}
_STREETS = ["Hauptstraße 12", "221 Baker Street", "12 rue de la Paix", "Keizersgracht 88", "Calle Mayor 5",
            "Bahnhofstrasse 7", "500 Market St, Suite 210", "Industrieweg 14"]
_CITIES = ["10115 Berlin", "London NW1 6XE", "75002 Paris", "1016 DZ Amsterdam", "28013 Madrid", "8001 Zürich",
           "San Francisco, CA 94105", "00-950 Warszawa"]


@dataclass(frozen=True, slots=True)
class FieldBox:
    field: str
    page: int
    x0: float
    x1: float
    top: float
    bottom: float


@dataclass
class _Pen:
    canvas: Canvas
    height: float
    boxes: list[FieldBox] = field(default_factory=list)
    page: int = 0

    def text(self, s: str, x: float, y: float, size: float = 9, bold: bool = False, align: str = "left",
             field_name: str | None = None) -> float:
        font = "Helvetica-Bold" if bold else "Helvetica"
        width = stringWidth(s, font, size)
        x0 = x - width if align == "right" else x - width / 2 if align == "center" else x
        self.canvas.setFont(font, size)
        self.canvas.drawString(x0, y, s)
        if field_name:
            self.boxes.append(FieldBox(field_name, self.page, x0 - 1, x0 + width + 1,
                                       self.height - y - size - 1, self.height - y + size * 0.3 + 1))
        return x0 + width

    def new_page(self) -> None:
        self.canvas.showPage()
        self.page += 1


def _money(fam: LayoutFamily, value: float, currency: str) -> str:
    return format_money(value, fam.number_style, currency, fam.money_display)


def render_document(truth: DocumentTruth, fam: LayoutFamily, rng: random.Random) -> tuple[bytes, list[FieldBox]]:
    """PDF bytes and the boxes of every printed field value (several boxes when a value is printed twice)."""
    lang, f = fam.lang, truth.fields
    labels = {k: v[fam.wording % len(v)] if rng.random() < 0.8 else rng.choice(v) for k, v in LABELS[lang].items()}
    date_style = rng.choice(fam.date_styles)
    currency = f.get("currency") or fam.currencies[0]
    pagesize = LETTER if fam.money_display == "symbol_prefix" and currency == "USD" else A4
    width, height = pagesize
    buf = io.BytesIO()
    pen = _Pen(Canvas(buf, pagesize=pagesize, invariant=1, pageCompression=1), height)
    right = width - 40

    # -- vendor block and title ----------------------------------------------------------------------------
    vendor = f.get("vendor_name", "")
    address = [rng.choice(_STREETS), rng.choice(_CITIES), f"Tel. +{rng.randint(30, 49)} {rng.randint(100, 999)} "
               f"{rng.randint(1000, 99999)}"]
    top = height - 50
    title = TITLES[truth.document_type][lang]
    vsize = rng.choice([12, 13, 14, 16])
    if fam.vendor_pos == "below_title":
        pen.text(title, width / 2, top, 18, True, "center")
        pen.text(vendor, 40, top - 30, vsize, True, field_name="vendor_name")
        for i, line in enumerate(address):
            pen.text(line, 40, top - 45 - 11 * i, 8)
        y = top - 95
    else:
        if fam.vendor_pos != "footer":
            vx, align = {"top_left": (40, "left"), "top_right": (right, "right"),
                         "top_center": (width / 2, "center")}[fam.vendor_pos]
            pen.text(vendor, vx, top, vsize, True, align, field_name="vendor_name")
            for i, line in enumerate(address):
                pen.text(line, vx, top - 16 - 11 * i, 8, align=align)
        tx, talign = {"left": (40, "left"), "right": (right, "right"), "center": (width / 2, "center")}[fam.title_pos]
        pen.text(title, tx, top - 65, 16, True, talign)
        y = top - 95

    # -- meta items -------------------------------------------------------------------------------------------
    meta: list[tuple[str, str, str | None]] = []
    date_label = labels["invoice_date"] if truth.document_type == "invoice" else labels["document_date"]
    for name in ("invoice_number", "credit_no", "order_number", "po_number", "rma_number", "customer_id",
                 "document_date", "distractor_date", "due_date", "tracking_number", "carrier", "distractor_id"):
        if name == "credit_no" and truth.document_type == "credit_memo":
            meta.append((_CREDIT_NO[lang], truth.distractor_ids[1], None))
        elif name == "distractor_date" and rng.random() < 0.7:
            meta.append((rng.choice(DISTRACTOR_LABELS[lang]["date"]),
                         format_date(rng.choice(truth.distractor_dates), date_style, lang), None))
        elif name == "distractor_id" and rng.random() < 0.5:
            meta.append((rng.choice(DISTRACTOR_LABELS[lang]["id"]), truth.distractor_ids[0], None))
        elif name in f:
            value = f[name]
            text = format_date(value, date_style, lang) if name.endswith("_date") else str(value)
            if name == "invoice_number" and truth.document_type == "credit_memo":
                label = labels["credit_ref"]
            elif name == "document_date":
                label = date_label
            else:
                label = labels[name]
            meta.append((label, text, name))
    if fam.currency_line and "currency" in f:
        meta.append((labels["currency"], currency, "currency"))
    if rng.random() < 0.3:
        rng.shuffle(meta)

    def meta_block(x: float, y0: float, col_width: float) -> float:
        yy = y0
        if fam.meta_style == "inline_pairs":
            for i in range(0, len(meta), 2):
                for j, (lab, val, fname) in enumerate(meta[i:i + 2]):
                    end = pen.text(f"{lab}:", 40 + j * 270, yy, 9, True)
                    pen.text(val, end + 5, yy, 9, field_name=fname)
                yy -= 14
            return yy
        if fam.meta_style == "label_above" and fam.meta_pos == "grid_row":
            per_row = 4
            cw = (width - 80) / per_row
            for i, (lab, val, fname) in enumerate(meta):
                cx = 40 + (i % per_row) * cw
                cy = yy - (i // per_row) * 28
                pen.text(lab, cx, cy, 7, True)
                pen.text(val, cx, cy - 11, 9, field_name=fname)
            return yy - ((len(meta) - 1) // per_row + 1) * 28
        for lab, val, fname in meta:
            if fam.meta_style == "label_above":
                pen.text(lab, x, yy, 7, True)
                pen.text(val, x, yy - 11, 9, field_name=fname)
                yy -= 26
            elif fam.meta_style == "colon_inline":
                end = pen.text(f"{lab}:", x, yy, 9)
                pen.text(val, end + 5, yy, 9, field_name=fname)
                yy -= 13
            else:
                pen.text(lab, x, yy, 9, True)
                pen.text(val, x + col_width, yy, 9, field_name=fname)
                yy -= 13
        return yy

    def customer_block(x: float, y0: float) -> float:
        if "customer_name" not in f:
            return y0
        pen.text(labels["customer_name"] + ("" if rng.random() < 0.5 else ":"), x, y0, 8, True)
        pen.text(f["customer_name"], x, y0 - 13, 10, field_name="customer_name")
        pen.text(rng.choice(_STREETS), x, y0 - 25, 9)
        pen.text(rng.choice(_CITIES), x, y0 - 37, 9)
        return y0 - 52

    if fam.meta_pos == "grid_row":
        cy = customer_block(40 if fam.customer_pos == "left" else 330, y)
        y = min(meta_block(40, cy - 8, 0), cy) - 10
    elif fam.meta_style == "inline_pairs":
        y = meta_block(40, y, 0) - 8
        y = customer_block(40 if fam.customer_pos == "left" else 330, y) - 6
    else:
        meta_x = 330 if fam.meta_pos == "right" else 40
        cust_x = 40 if fam.meta_pos == "right" else 330
        y1 = meta_block(meta_x, y, 105 if meta_x == 330 else 110)
        y2 = customer_block(cust_x, y)
        y = min(y1, y2) - 12

    # -- line items ---------------------------------------------------------------------------------------------
    priced = truth.line_items and truth.line_items[0].unit_price is not None
    heads = TABLE_HEADS[lang]
    cols = [("sku", 40, "left"), ("description", 125, "left"), ("quantity", 360, "right")]
    if priced:
        cols += [("unit_price", 450, "right"), ("amount", right, "right")]

    def header(yy: float) -> float:
        for name, cx, al in cols:
            pen.text(heads[name], cx, yy, 9, True, al)
        if fam.ruled:
            pen.canvas.line(36, yy + 11, right + 4, yy + 11)
            pen.canvas.line(36, yy - 4, right + 4, yy - 4)
        return yy - 16

    serial_rows = rng.random() < 0.5
    y = header(y)
    for li in truth.line_items:
        if y < 110:
            pen.text(f"{rng.choice(['Page', 'Seite', 'Page', 'Pagina', 'Página'])} {pen.page + 1}", right, 40, 7,
                     align="right")
            pen.new_page()
            y = header(height - 60)
        pen.text(li.sku, 40, y, 9)
        pen.text(li.description, 125, y, 9)
        pen.text(str(li.quantity), 360, y, 9, align="right")
        if priced:
            pen.text(format_amount(li.unit_price or 0.0, fam.number_style), 450, y, 9, align="right")
            pen.text(format_amount(li.amount or 0.0, fam.number_style), right, y, 9, align="right")
        if fam.ruled:
            pen.canvas.line(36, y - 4, right + 4, y - 4)
        y -= 14
        if li.serials and serial_rows and "serial_numbers" in f:
            end = pen.text(labels["serial_numbers"] + ":", 125, y, 8)
            for s in li.serials:
                end = pen.text(s, end + 5, y, 8, field_name="serial_numbers") + 3
            y -= 12
    if "serial_numbers" in f and not serial_rows:
        y -= 6
        pen.text(labels["serial_numbers"] + ":", 40, y, 9, True)
        for s in f["serial_numbers"]:
            y -= 12
            pen.text(s, 60, y, 9, field_name="serial_numbers")
        y -= 6

    # -- totals -------------------------------------------------------------------------------------------------
    if "total_amount" in f:
        if y < 110:
            pen.new_page()
            y = height - 60
        y -= 10
        rate = f"{truth.tax_rate * 100:.0f}%" if truth.tax_rate * 100 == round(truth.tax_rate * 100) else \
            f"{truth.tax_rate * 100:.1f}%"
        rows = [(labels["subtotal_amount"], "subtotal_amount", False),
                (f"{labels['tax_amount']} {rate}" if rng.random() < 0.6 else labels["tax_amount"], "tax_amount", False),
                (labels["total_amount"], "total_amount", True)]
        for lab, name, bold in rows:
            if fam.totals_labels_right:
                pen.text(lab, 470, y, 10 if bold else 9, bold, "right")
            else:
                pen.text(lab, 350, y, 10 if bold else 9, bold)
            pen.text(_money(fam, f[name], currency), right, y, 10 if bold else 9, bold, "right", field_name=name)
            y -= 15

    # -- noise and footer -----------------------------------------------------------------------------------------
    y -= 10
    for sentence in rng.sample(NOISE[lang], k=min(len(NOISE[lang]), rng.randint(1, 3))):
        if y < 60:
            break
        pen.text(sentence, 40, y, 8)
        y -= 11
    if truth.document_type == "delivery_receipt" and y > 70:
        pen.text("Signature: ______________________", 40, y - 10, 9)
    iban = f"IBAN DE{rng.randint(10, 99)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
    footer_y = 28
    # Many vendors repeat their name in the footer (legal details); the footer family has it only there.
    if fam.vendor_pos == "footer" or rng.random() < 0.3:
        end = pen.text(vendor, 40, footer_y, 8, True, field_name="vendor_name")
        pen.text(f"{address[0]}  ·  {address[1]}  ·  {iban}", end + 14, footer_y, 7)
    else:
        pen.text(iban, 40, footer_y, 7)
    pen.canvas.showPage()
    pen.canvas.save()
    return buf.getvalue(), pen.boxes


def truth_with_boxes(truth: DocumentTruth, boxes: list[FieldBox]) -> dict[str, Any]:
    data = truth.to_json()
    data["boxes"] = [[b.field, b.page, b.x0, b.x1, b.top, b.bottom] for b in boxes]
    return data


_OTHER_TITLES = {
    "en": ["Monthly Activity Report", "Meeting Minutes", "Product Data Sheet", "Notice of Change", "Statistics"],
    "de": ["Monatsbericht", "Protokoll der Sitzung", "Technisches Datenblatt", "Mitteilung", "Statistik"],
    "fr": ["Rapport mensuel", "Compte rendu de réunion", "Fiche technique", "Avis de modification", "Statistiques"],
    "nl": ["Maandrapport", "Notulen", "Productinformatieblad", "Mededeling", "Statistieken"],
    "es": ["Informe mensual", "Acta de la reunión", "Ficha técnica", "Aviso de cambio", "Estadísticas"],
}
_OTHER_HEADS = ["Region", "Year", "Count", "Rate", "Change", "Units", "Value", "Week", "Site", "Score"]


def render_other(fam: LayoutFamily, rng: random.Random) -> bytes:
    """A page that is no commercial document (a report, minutes, a data sheet): numbers, dates, no fields."""
    lang = fam.lang
    width, height = A4
    buf = io.BytesIO()
    pen = _Pen(Canvas(buf, pagesize=A4, invariant=1, pageCompression=1), height)
    y = height - 60
    pen.text(rng.choice(_OTHER_TITLES[lang]), 40 if rng.random() < 0.5 else width / 2, y, 16, True,
             "left" if rng.random() < 0.5 else "center")
    y -= 30
    pen.text(format_date(date_for(rng), rng.choice(fam.date_styles), lang), 40, y, 9)
    y -= 24
    for sentence in rng.sample(NOISE[lang], k=min(3, len(NOISE[lang]))):
        pen.text(sentence, 40, y, 9)
        y -= 12
    y -= 12
    heads = rng.sample(_OTHER_HEADS, k=5)
    for k, head in enumerate(heads):
        pen.text(head, 40 + k * 100, y, 9, True)
    y -= 16
    for _ in range(rng.randint(3, 25)):
        pen.text(rng.choice(_CITIES).split()[-1], 40, y, 9)
        for k in range(1, 5):
            value = rng.uniform(0, 5000)
            text = format_amount(value, fam.number_style) if rng.random() < 0.5 else str(int(value))
            pen.text(text, 40 + k * 100 + 60, y, 9, align="right")
        y -= 13
        if y < 60:
            break
    pen.canvas.showPage()
    pen.canvas.save()
    return buf.getvalue()


def date_for(rng: random.Random) -> date:
    return date(2015, 1, 1) + timedelta(days=rng.randint(0, 4000))
