"""Label vocabulary in English, German, French, Dutch and Spanish.

These are generic words a human reader uses to find a field on any business document (not per-vendor
templates). The extractor turns them into *concept* features; the learned scorer decides how concepts combine
("invoice" + "date" is a document date, "invoice" + "number" an invoice number).
"""

from __future__ import annotations

import functools
import unicodedata

__all__ = [
    "FIELDS",
    "ID_FIELDS",
    "AMOUNT_FIELDS",
    "DATE_FIELDS",
    "TEXT_FIELDS",
    "DOCUMENT_TYPES",
    "CONCEPTS",
    "CONCEPT_NAMES",
    "DOCUMENT_TYPE_NAMES",
    "TABLE_HEADERS",
    "CARRIERS",
    "ISO_4217",
    "CURRENCY_SYMBOLS",
    "fold",
    "concepts_in",
]

FIELDS: tuple[str, ...] = (
    "invoice_number",
    "order_number",
    "po_number",
    "rma_number",
    "document_date",
    "due_date",
    "vendor_name",
    "customer_name",
    "customer_id",
    "total_amount",
    "subtotal_amount",
    "tax_amount",
    "currency",
    "tracking_number",
    "carrier",
    "serial_numbers",
)
ID_FIELDS = ("invoice_number", "order_number", "po_number", "rma_number", "customer_id", "tracking_number")
AMOUNT_FIELDS = ("total_amount", "subtotal_amount", "tax_amount")
DATE_FIELDS = ("document_date", "due_date")
TEXT_FIELDS = ("vendor_name", "customer_name")

DOCUMENT_TYPES: tuple[str, ...] = (
    "invoice",
    "packing_slip",
    "rma_form",
    "credit_memo",
    "delivery_receipt",
    "inspection_report",
    "other",  # not a commercial document (report, letter, statistics): fields are not to be trusted
)

# concept -> stems. A stem matches a folded token when the token starts with it; stems marked with a leading
# "*" also match inside a token (German and Dutch compounds: "Rechnungsnummer", "Lieferdatum").
CONCEPTS: dict[str, tuple[str, ...]] = {
    "invoice": ("invoice", "inv", "*rechnung", "facture", "factuur", "factura", "fact"),
    "order": ("order", "*bestell", "*auftrag", "commande", "cde", "pedido", "ordre"),
    "purchase": ("purchase", "po", "p.o", "einkauf", "inkoop", "compra", "achat", "bon"),
    "your": ("your", "ihre", "ihr", "votre", "vos", "uw", "su", "sus", "customer's"),
    "return": ("rma", "return", "*retour", "*rucksend", "*rucksende", "devolucion", "retoure", "rga"),
    "number": ("no", "nr", "number", "*nummer", "numero", "num", "n", "no.", "#", "ref", "reference", "referenz",
               "nº", "n°", "id", "code", "codigo"),
    "date": ("date", "*datum", "fecha", "dated", "le", "du"),
    "due": ("due", "*fallig", "echeance", "*verval", "vencimiento", "zahlbar", "payable", "pagar", "betalen"),
    "delivery": ("delivery", "*liefer", "livraison", "*levering", "entrega", "shipped", "ship", "versand",
                 "expedition", "envio", "verzend", "verzonden"),
    "customer": ("customer", "*kunde", "client", "klant", "cliente", "buyer", "kaufer", "acheteur", "koper",
                 "comprador", "account", "konto", "compte", "cuenta"),
    "billto": ("bill", "billed", "sold", "*rechnungsempfanger", "*rechnungsadresse", "facturer", "facture a",
               "factuuradres", "facturar", "facturado", "to", "an", "aan", "a"),
    "vendor": ("from", "seller", "vendor", "supplier", "*lieferant", "fournisseur", "vendeur", "leverancier",
               "proveedor", "vendedor", "von", "de", "van", "issued"),
    "total": ("total", "totaal", "*gesamt", "*summe", "endbetrag", "*rechnungsbetrag", "ttc", "amount", "betrag",
              "montant", "bedrag", "importe", "balance", "pay", "grand"),
    "subtotal": ("subtotal", "sub", "*zwischensumme", "sous", "subtotaal", "ht", "netto", "net", "base",
                 "imponible", "excl", "exkl", "hors"),
    "tax": ("tax", "vat", "mwst", "ust", "*steuer", "tva", "btw", "iva", "gst", "sales"),
    "inclusive": ("incl", "inkl", "inclusief", "including", "inclusive", "ttc", "incluido", "incluida", "brutto",
                  "bruto", "gross"),
    "currency": ("currency", "*wahrung", "devise", "monnaie", "valuta", "munt", "moneda", "divisa"),
    "tracking": ("tracking", "track", "*sendung", "suivi", "colis", "seguimiento", "*zending", "barcode",
                 "awb", "waybill", "parcel", "paket", "envio"),
    "carrier": ("carrier", "*spediteur", "*paketdienst", "transporteur", "*vervoerder", "transportista", "via",
                "courier", "kurier", "messagerie", "agencia"),
    "serial": ("serial", "s/n", "sn", "*serien", "serie", "*serienummer", "serienr", "snr"),
    "credit": ("credit", "*gutschrift", "avoir", "creditnota", "credito", "abono"),
    "quantity": ("qty", "quantity", "menge", "anzahl", "qte", "quantite", "aantal", "cantidad", "cant", "stk"),
    "price": ("price", "preis", "*preis", "prix", "prijs", "*prijs", "precio", "unit", "einzel", "unitaire",
              "stuk", "unitario", "p.u"),
    "page": ("page", "seite", "pagina", "blatt"),
}
CONCEPT_NAMES: tuple[str, ...] = tuple(CONCEPTS)

# Document-type names (titles) in the five languages; matched on folded line text.
DOCUMENT_TYPE_NAMES: dict[str, tuple[str, ...]] = {
    "invoice": ("invoice", "tax invoice", "bill", "rechnung", "facture", "factuur", "factura"),
    "packing_slip": ("packing slip", "packing list", "delivery note", "lieferschein", "packliste",
                     "bon de livraison", "bordereau", "pakbon", "paklijst", "albaran", "nota de entrega"),
    "rma_form": ("return authorization", "return authorisation", "returns form", "return form", "rma form",
                 "rucksendeschein", "retourenschein", "rucksendeformular", "autorisation de retour",
                 "bon de retour", "retourformulier", "retourbon", "autorizacion de devolucion",
                 "formulario de devolucion"),
    "credit_memo": ("credit memo", "credit note", "gutschrift", "avoir", "creditnota", "creditfactuur",
                    "nota de credito", "abono", "factura rectificativa"),
    "delivery_receipt": ("delivery receipt", "proof of delivery", "empfangsbestatigung", "zustellnachweis",
                         "accuse de reception", "preuve de livraison", "afleverbewijs", "ontvangstbewijs",
                         "acuse de recibo", "prueba de entrega"),
    "inspection_report": ("inspection report", "inspection", "prufbericht", "prufprotokoll",
                          "rapport d inspection", "rapport de controle", "inspectierapport", "keuringsrapport",
                          "informe de inspeccion", "acta de inspeccion"),
}

# Table column headers: column -> stems (matched like concepts).
TABLE_HEADERS: dict[str, tuple[str, ...]] = {
    "sku": ("sku", "item", "art", "artikel", "*artikelnr", "ref", "reference", "ref.", "artikelnummer",
            "code", "codigo", "article", "part", "product"),
    "description": ("description", "desc", "beschreibung", "*bezeichnung", "designation", "libelle",
                    "omschrijving", "descripcion", "concepto"),
    "quantity": ("qty", "quantity", "menge", "anzahl", "qte", "quantite", "aantal", "cantidad", "cant", "units"),
    "unit_price": ("unit", "price", "einzelpreis", "*preis", "prix", "stukprijs", "*prijs", "precio", "p.u",
                   "rate", "tarif"),
    "amount": ("amount", "total", "betrag", "gesamt", "montant", "bedrag", "importe", "line", "net", "totaal"),
}

CARRIERS: dict[str, str] = {
    "dhl": "DHL",
    "dhl express": "DHL",
    "ups": "UPS",
    "fedex": "FedEx",
    "dpd": "DPD",
    "gls": "GLS",
    "postnl": "PostNL",
    "royal mail": "Royal Mail",
    "colissimo": "Colissimo",
    "chronopost": "Chronopost",
    "correos": "Correos",
    "seur": "SEUR",
    "inpost": "InPost",
    "usps": "USPS",
    "tnt": "TNT",
    "hermes": "Hermes",
    "evri": "Evri",
    "swiss post": "Swiss Post",
    "die post": "Swiss Post",
    "post": "Post",
    "bpost": "bpost",
}

# ISO 4217 active codes (a subset would be a silent bug for the check; this is the full list of 2024).
ISO_4217: frozenset[str] = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD
    CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD
    HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL
    LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR
    PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP
    TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL""".split()
)
# Symbols map to the most common currency using them; "$" is ambiguous in the world but USD on our documents.
CURRENCY_SYMBOLS: dict[str, str] = {"€": "EUR", "$": "USD", "US$": "USD", "£": "GBP", "zł": "PLN", "zl": "PLN",
                                    "Fr.": "CHF", "SFr.": "CHF", "¥": "JPY"}


@functools.lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower-case and strip accents: ``"Fällig"`` -> ``"fallig"``, ``"N°"`` -> ``"n°"``."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    folded = fold(text).replace("'", " ").replace("\u2019", " ")  # French elision: "d'échéance"
    for raw in folded.replace(":", " ").replace("/", " / ").replace("-", " ").split():
        tok = raw.strip(".,;()[]*_\"")
        if tok and tok != "/":
            out.append(tok)
        if raw.startswith("#"):
            out.append("#")
    if "s / n" in fold(text).replace("/", " / ") or "s/n" in fold(text):
        out.append("s/n")
    return out


def _token_matches(stems: tuple[str, ...], token: str) -> bool:
    for stem in stems:
        if stem.startswith("*"):
            if stem[1:] in token:
                return True
        elif len(stem) <= 2:
            if stem == token:
                return True
        elif token.startswith(stem):
            return True
    return False


_TABLES: dict[int, dict[str, tuple[str, ...]]] = {}


@functools.lru_cache(maxsize=65536)
def _token_concepts(token: str, table_id: int) -> frozenset[str]:
    table = _TABLES[table_id]
    return frozenset(name for name, stems in table.items() if _token_matches(stems, token))


def concepts_in(text: str, table: dict[str, tuple[str, ...]] = CONCEPTS) -> set[str]:
    """The concepts (keys of ``table``) whose stems appear in ``text`` (a stem matches a token it starts)."""
    table_id = id(table)
    _TABLES.setdefault(table_id, table)
    found: set[str] = set()
    for token in _tokens(text):
        found |= _token_concepts(token, table_id)
    return found
