"""How values are printed: date styles, number styles, currency display, label wordings in five languages."""

from __future__ import annotations

from datetime import date

__all__ = ["format_date", "format_amount", "format_money", "LABELS", "TITLES", "MONTHS", "TABLE_HEADS",
           "DISTRACTOR_LABELS", "NOISE"]

MONTHS: dict[str, list[str]] = {
    "en": "January February March April May June July August September October November December".split(),
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split(),
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split(),
    "nl": "januari februari maart april mei juni juli augustus september oktober november december".split(),
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split(),
}


def format_date(d: date, style: str, lang: str) -> str:
    """Styles: iso (2026-03-04), dots (04.03.2026), dmy_slash (04/03/2026), mdy_short (03/04/26),
    dmy_dash (04-03-2026), long (4 March 2026 / 4. März 2026 / 4 de marzo de 2026), us_long (March 4, 2026)."""
    if style == "iso":
        return d.isoformat()
    if style == "dots":
        return f"{d.day:02d}.{d.month:02d}.{d.year}"
    if style == "dmy_slash":
        return f"{d.day:02d}/{d.month:02d}/{d.year}"
    if style == "mdy_short":
        return f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}"
    if style == "dmy_dash":
        return f"{d.day:02d}-{d.month:02d}-{d.year}"
    month = MONTHS[lang][d.month - 1]
    if style == "us_long":
        return f"{month} {d.day}, {d.year}"
    if lang == "de":
        return f"{d.day}. {month} {d.year}"
    if lang == "es":
        return f"{d.day} de {month} de {d.year}"
    return f"{d.day} {month} {d.year}"


def format_amount(value: float, style: str) -> str:
    """Styles: en (1,234.56), eu (1.234,56), ch (1'234.56), plain_comma (1234,56), plain_dot (1234.56)."""
    neg = value < 0
    cents = round(abs(value) * 100)
    integer, frac = divmod(cents, 100)
    groups = f"{integer:,}"
    if style == "en":
        s = f"{groups}.{frac:02d}"
    elif style == "eu":
        s = f"{groups.replace(',', '.')},{frac:02d}"
    elif style == "ch":
        s = f"{groups.replace(',', chr(39))}.{frac:02d}"
    elif style == "plain_comma":
        s = f"{integer},{frac:02d}"
    else:
        s = f"{integer}.{frac:02d}"
    return f"-{s}" if neg else s


_SYMBOL = {"EUR": "€", "USD": "$", "GBP": "£"}


def format_money(value: float, number_style: str, currency: str, display: str) -> str:
    """display: symbol_prefix (€1.234,56), symbol_suffix (1.234,56 €), code_prefix (CHF 1'234.50),
    code_suffix (1,234.56 PLN), none (1,234.56)."""
    amount = format_amount(value, number_style)
    symbol = _SYMBOL.get(currency)
    if display == "symbol_prefix" and symbol:
        return f"{symbol}{amount}" if currency != "EUR" else f"€ {amount}"
    if display == "symbol_suffix" and symbol:
        return f"{amount} {symbol}"
    if display in ("code_prefix", "symbol_prefix"):
        return f"{currency} {amount}"
    if display in ("code_suffix", "symbol_suffix"):
        return f"{amount} {currency}"
    return amount


# field -> wording variants, per language
LABELS: dict[str, dict[str, list[str]]] = {
    "en": {
        "invoice_number": ["Invoice No.", "Invoice Number", "Invoice #"],
        "credit_ref": ["Original Invoice", "Invoice Ref."],
        "order_number": ["Order No.", "Order Number", "Sales Order"],
        "po_number": ["PO Number", "Your PO No.", "Purchase Order"],
        "rma_number": ["RMA No.", "RMA Number", "Return Authorization No."],
        "document_date": ["Date", "Issue Date", "Document Date"],
        "invoice_date": ["Invoice Date", "Date", "Invoice Date"],
        "due_date": ["Due Date", "Payment Due", "Due Date"],
        "customer_name": ["Bill To", "Customer", "Sold To"],
        "customer_id": ["Customer No.", "Account No.", "Customer ID"],
        "total_amount": ["Total", "Total Due", "Amount Due", "Total incl. VAT", "Balance Due", "Grand Total"],
        "subtotal_amount": ["Subtotal", "Net Amount", "Subtotal", "Total excl. VAT"],
        "tax_amount": ["VAT", "Tax", "Sales Tax"],
        "currency": ["Currency", "Currency", "Currency"],
        "tracking_number": ["Tracking No.", "Tracking Number", "Tracking #"],
        "carrier": ["Carrier", "Shipped via", "Carrier"],
        "serial_numbers": ["Serial No.", "S/N", "Serial Numbers"],
        "vendor_name": ["From", "Seller", "Supplier"],
    },
    "de": {
        "invoice_number": ["Rechnungsnummer", "Rechnung Nr.", "Rechnungs-Nr."],
        "credit_ref": ["Bezug Rechnung", "zu Rechnung Nr."],
        "order_number": ["Bestellnummer", "Auftragsnr.", "Auftrag"],
        "po_number": ["Ihre Bestellnr.", "Einkaufsnr.", "Ihre Bestellung"],
        "rma_number": ["RMA-Nr.", "Rücksendenummer", "Retourennummer"],
        "document_date": ["Datum", "Belegdatum", "Datum"],
        "invoice_date": ["Rechnungsdatum", "Datum", "Rechnungsdatum"],
        "due_date": ["Fällig am", "Zahlbar bis", "Fälligkeit"],
        "customer_name": ["Kunde", "Rechnungsempfänger", "Kunde"],
        "customer_id": ["Kundennummer", "Kunden-Nr.", "Kundennr."],
        "total_amount": ["Gesamtbetrag", "Rechnungsbetrag", "Summe", "Gesamtbetrag inkl. MwSt.", "Bruttobetrag"],
        "subtotal_amount": ["Zwischensumme", "Nettobetrag", "Zwischensumme", "Summe netto"],
        "tax_amount": ["MwSt.", "USt.", "MwSt."],
        "currency": ["Währung", "Währung", "Währung"],
        "tracking_number": ["Sendungsnummer", "Tracking-Nr.", "Sendungsnummer"],
        "carrier": ["Versanddienstleister", "Spediteur", "Paketdienst"],
        "serial_numbers": ["Seriennummer", "S/N", "Seriennummern"],
        "vendor_name": ["Lieferant", "Von", "Verkäufer"],
    },
    "fr": {
        "invoice_number": ["N° de facture", "Facture n°", "Numéro de facture"],
        "credit_ref": ["Facture d'origine", "Réf. facture"],
        "order_number": ["N° de commande", "Commande n°", "Commande"],
        "po_number": ["Bon de commande", "Votre réf. achat", "Bon de commande"],
        "rma_number": ["N° de retour", "N° RMA", "Autorisation de retour n°"],
        "document_date": ["Date", "Date du document", "Date"],
        "invoice_date": ["Date de facture", "Date", "Date de facture"],
        "due_date": ["Échéance", "Date d'échéance", "Échéance"],
        "customer_name": ["Client", "Facturer à", "Client"],
        "customer_id": ["N° client", "Code client", "N° client"],
        "total_amount": ["Total TTC", "Montant total", "Net à payer", "Montant TTC"],
        "subtotal_amount": ["Total HT", "Sous-total", "Total HT"],
        "tax_amount": ["TVA", "TVA", "Montant TVA"],
        "currency": ["Devise", "Devise", "Monnaie"],
        "tracking_number": ["N° de suivi", "Suivi colis", "N° de suivi"],
        "carrier": ["Transporteur", "Transporteur", "Messagerie"],
        "serial_numbers": ["N° de série", "S/N", "Numéros de série"],
        "vendor_name": ["Fournisseur", "Vendeur", "De"],
    },
    "nl": {
        "invoice_number": ["Factuurnummer", "Factuur nr.", "Factuurnummer"],
        "credit_ref": ["Oorspronkelijke factuur", "Factuur ref."],
        "order_number": ["Ordernummer", "Bestelnummer", "Order nr."],
        "po_number": ["Uw inkoopordernr.", "Inkoopnummer", "Uw inkooporder"],
        "rma_number": ["Retournummer", "RMA-nummer", "Retour nr."],
        "document_date": ["Datum", "Documentdatum", "Datum"],
        "invoice_date": ["Factuurdatum", "Datum", "Factuurdatum"],
        "due_date": ["Vervaldatum", "Te betalen vóór", "Vervaldatum"],
        "customer_name": ["Klant", "Factuuradres", "Klant"],
        "customer_id": ["Klantnummer", "Klant nr.", "Klantnummer"],
        "total_amount": ["Totaal", "Te betalen", "Totaal incl. btw", "Bedrag inclusief btw"],
        "subtotal_amount": ["Subtotaal", "Totaal excl. btw", "Subtotaal", "Bedrag exclusief btw"],
        "tax_amount": ["BTW", "BTW 21%", "BTW"],
        "currency": ["Valuta", "Valuta", "Munt"],
        "tracking_number": ["Trackingnummer", "Zendingnummer", "Track & Trace"],
        "carrier": ["Vervoerder", "Vervoerder", "Verzonden via"],
        "serial_numbers": ["Serienummer", "S/N", "Serienummers"],
        "vendor_name": ["Leverancier", "Van", "Verkoper"],
    },
    "es": {
        "invoice_number": ["Nº de factura", "Factura nº", "Número de factura"],
        "credit_ref": ["Factura original", "Ref. factura"],
        "order_number": ["Nº de pedido", "Pedido nº", "Pedido"],
        "po_number": ["Orden de compra", "Su pedido de compra", "Orden de compra nº"],
        "rma_number": ["Nº de devolución", "RMA nº", "Autorización de devolución"],
        "document_date": ["Fecha", "Fecha del documento", "Fecha"],
        "invoice_date": ["Fecha de factura", "Fecha", "Fecha de emisión"],
        "due_date": ["Vencimiento", "Fecha de vencimiento", "Vencimiento"],
        "customer_name": ["Cliente", "Facturar a", "Cliente"],
        "customer_id": ["Nº de cliente", "Código cliente", "Nº cliente"],
        "total_amount": ["Total", "Importe total", "Total a pagar", "Total IVA incluido"],
        "subtotal_amount": ["Base imponible", "Subtotal", "Base imponible"],
        "tax_amount": ["IVA", "IVA 21%", "IVA"],
        "currency": ["Moneda", "Moneda", "Divisa"],
        "tracking_number": ["Nº de seguimiento", "Seguimiento", "Nº de envío"],
        "carrier": ["Transportista", "Transportista", "Agencia"],
        "serial_numbers": ["Nº de serie", "S/N", "Números de serie"],
        "vendor_name": ["Proveedor", "Vendedor", "De"],
    },
}

# Labels of values that look like fields but are not (other dates, other references).
DISTRACTOR_LABELS: dict[str, dict[str, list[str]]] = {
    "en": {"date": ["Order Date", "Delivery Date", "Ship Date"], "id": ["VAT ID", "Reference", "Delivery Note"]},
    "de": {"date": ["Bestelldatum", "Lieferdatum", "Versanddatum"], "id": ["USt-IdNr.", "Lieferschein", "Referenz"]},
    "fr": {"date": ["Date de commande", "Date de livraison", "Date d'expédition"],
           "id": ["N° TVA", "Bon de livraison", "Référence"]},
    "nl": {"date": ["Orderdatum", "Leverdatum", "Verzenddatum"], "id": ["BTW-nummer", "Pakbon", "Referentie"]},
    "es": {"date": ["Fecha de pedido", "Fecha de entrega", "Fecha de envío"],
           "id": ["NIF", "Albarán", "Referencia"]},
}

TITLES: dict[str, dict[str, str]] = {
    "invoice": {"en": "INVOICE", "de": "RECHNUNG", "fr": "FACTURE", "nl": "FACTUUR", "es": "FACTURA"},
    "packing_slip": {"en": "PACKING SLIP", "de": "LIEFERSCHEIN", "fr": "BON DE LIVRAISON", "nl": "PAKBON",
                     "es": "ALBARÁN"},
    "rma_form": {"en": "RETURN AUTHORIZATION", "de": "RÜCKSENDESCHEIN", "fr": "AUTORISATION DE RETOUR",
                 "nl": "RETOURFORMULIER", "es": "AUTORIZACIÓN DE DEVOLUCIÓN"},
    "credit_memo": {"en": "CREDIT MEMO", "de": "GUTSCHRIFT", "fr": "AVOIR", "nl": "CREDITNOTA",
                    "es": "NOTA DE CRÉDITO"},
    "delivery_receipt": {"en": "DELIVERY RECEIPT", "de": "EMPFANGSBESTÄTIGUNG", "fr": "ACCUSÉ DE RÉCEPTION",
                         "nl": "AFLEVERBEWIJS", "es": "ACUSE DE RECIBO"},
    "inspection_report": {"en": "INSPECTION REPORT", "de": "PRÜFBERICHT", "fr": "RAPPORT D'INSPECTION",
                          "nl": "INSPECTIERAPPORT", "es": "INFORME DE INSPECCIÓN"},
}

TABLE_HEADS: dict[str, dict[str, str]] = {
    "en": {"sku": "SKU", "description": "Description", "quantity": "Qty", "unit_price": "Unit Price",
           "amount": "Amount"},
    "de": {"sku": "Artikelnr.", "description": "Bezeichnung", "quantity": "Menge", "unit_price": "Einzelpreis",
           "amount": "Betrag"},
    "fr": {"sku": "Réf.", "description": "Désignation", "quantity": "Qté", "unit_price": "Prix unitaire",
           "amount": "Montant"},
    "nl": {"sku": "Artikel", "description": "Omschrijving", "quantity": "Aantal", "unit_price": "Stukprijs",
           "amount": "Bedrag"},
    "es": {"sku": "Código", "description": "Descripción", "quantity": "Cantidad", "unit_price": "Precio unitario",
           "amount": "Importe"},
}

NOISE: dict[str, list[str]] = {
    "en": ["Thank you for your business.", "Payment terms: 30 days net.", "Goods remain our property until paid.",
           "Questions? Call +1 555 0142 or write to support.", "Please quote our reference on all payments.",
           "Returns accepted within 30 days in original packaging."],
    "de": ["Vielen Dank für Ihren Einkauf.", "Zahlbar innerhalb von 14 Tagen ohne Abzug.",
           "Die Ware bleibt bis zur vollständigen Bezahlung unser Eigentum.", "Bei Fragen: +49 30 1234567.",
           "Bitte geben Sie bei Zahlung unsere Referenz an."],
    "fr": ["Merci de votre confiance.", "Paiement à 30 jours fin de mois.", "Pénalités de retard: 3 fois le taux légal.",
           "Service client: +33 1 23 45 67 89.", "Marchandise voyageant aux risques du destinataire."],
    "nl": ["Bedankt voor uw bestelling.", "Betaling binnen 30 dagen.", "Op al onze leveringen zijn onze voorwaarden "
           "van toepassing.", "Vragen? Bel 020 123 4567.", "Vermeld bij betaling altijd het factuurnummer."],
    "es": ["Gracias por su compra.", "Pago a 30 días.", "La mercancía viaja por cuenta y riesgo del comprador.",
           "Atención al cliente: +34 91 123 45 67.", "Indique el número de factura en su transferencia."],
}
