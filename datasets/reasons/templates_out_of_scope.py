"""Wording for out-of-scope texts: messages that reach the returns inbox but state no return reason. Grouped
by topic (the topic becomes part of the template id). Layout and grammar: see ``templates``.

Several deliberately sit close to a reason code ("when will my drill be delivered?" is an order-status
question, not ``LATE_DELIVERY``; "I don't want to return anything, just the invoice" mentions a return), so a
classifier cannot separate them on keywords alone.
"""

from __future__ import annotations

from typing import Final

__all__ = ["WORDING"]

WORDING: Final[dict[str, list[tuple[str, ...]]]] = {
    "invoice": [
        ("C", "[can you|could you|pls] [send|resend|email] [me|us] [a copy of|] the invoice [for|on] [order|] "
              "{order}[?|, can't find it|]"),
        ("C", "[our|the] [payment|card payment|bank transfer] [failed|was declined|bounced][,|.] how do I [pay|settle] "
              "invoice {inv}?"),
        ("C", "invoice {inv} [has the wrong|shows the wrong|is missing our] [VAT number|company address|PO "
              "number][,|.] [please|pls] [reissue|correct|amend] it"),
        ("E", "Could you confirm when invoice {inv} is due? [We need it for our month-end close.|Our ledger "
              "shows a different amount of {amount}.|Our finance team is asking.]"),
        ("R", "cust [asking|query] re [invoice|inv] {inv} [payment terms|credit terms|due date|remittance]"),
        ("X", "[REMITTANCE ADVICE|PAYMENT ADVICE] [INV|INVOICE] {inv} [PAID|AMOUNT {amount}]"),
        ("C", "[I|we] [don't|do not] want to return [anything|it][,| -] [I just|we just|just] need [a copy of the "
              "invoice|the invoice resent|a VAT receipt]", "negates:NO_LONGER_NEEDED"),
    ],
    "address": [
        ("C", "[can I|can we|please] [change|update] the delivery address [for|on] order {order}[?|, we've moved|, it "
              "should go to {site}]"),
        ("C", "[please|pls] [deliver|send it] to [our|the] [new|other] [site|warehouse|address] [instead|not head "
              "office][,|.] [address|details] [below|to follow]"),
        ("C", "wrong [postcode|address] on [my|the] order[,| -] [can you|please] [fix|correct] it before [it "
              "ships|dispatch]"),
        ("R", "cust [wants|asks] [del|delivery] [addr|address] [changed|updated] [on|for] ord {order}[ to {site}|]"),
        ("W", "[addr|address] [change|amend] [req|requested] [ord|order] {order}[ - hold dispatch|]"),
        ("C", "[not a return|not returning anything|no return needed][,| -] [please|pls] [change|update] the delivery "
              "address [to|for] {site}", "negates:NO_LONGER_NEEDED"),
    ],
    "account": [
        ("C", "[I|i] [can't|cannot|can not] [log in|login|sign in] to my account[,|.] [the password reset|the reset "
              "link] [doesn't work|never arrives|is not working]"),
        ("C", "[how do I|can I] [add a colleague to|remove a user from|add another buyer to] our "
              "[trade|business|company] "
              "account[?|]"),
        ("C", "[please|pls] [update|change] [the|our] [email|contact email|billing contact] [on|for] [our|the] "
              "account[,|.] [the new one is|new email:] {email}"),
        ("C", "[can you|could you] [increase|raise|review] our credit limit[?|, we have a big order coming]"),
        ("P", "[close|delete] my account[ please| pls|]"),
        ("R", "cust [wants|needs] [new|extra] [logins|user accounts] for [the portal|the web shop][, {name} @ "
              "{company}|]"),
        ("C", "nothing wrong with the order[,| -] [I|I just] [need|want] to [update|change] [my|the] [payment "
              "card|billing details|account email]", "negates:DEFECTIVE"),
    ],
    "status": [
        ("C", "where is my order[?|??|!] [{order}|order {order}|ordered on {day}]"),
        ("C", "has order {order} [shipped|been dispatched|gone out] yet?[ need a tracking number|]"),
        ("C", "any [update|news|ETA] on [order|ord|po] {order}[?| please|]"),
        ("C", "[the tracking number|tracking] [isn't|is not] [working|updating|showing anything][,|.] [can you "
              "check|please check] [where it is|the status]"),
        ("C", "when will [the|my|our] {short} [be back in stock|ship|be delivered][?|]"),
        ("R", "cust chasing [ETA|delivery date|status] [on|for] {order}[, pls advise|]"),
        ("X", "[ORDER STATUS|ASN|DELIVERY STATUS] [REQUEST|ENQUIRY] [PO|ORDER] {po}"),
        ("C", "[it's not late yet|not complaining about it being late], [I|we] just [want to|need to] know [the "
              "delivery date|when it ships] [for planning|so we can book the install]", "negates:LATE_DELIVERY"),
    ],
    "gibberish": [
        ("P", "{gibberish}", "raw"),
        ("P", "[test|testing|test test|asdf|123|xxx|.|?|n/a|none|...]", "raw"),
        ("P", "[hello|hi|hey|helo|hii][?|.|]", "raw"),
        ("P", "{gibberish} {gibberish}", "raw"),
        ("C", "[lorem ipsum dolor sit amet|qwerty uiop|zzzz|aaaaaa|jjjjj kkk|????|ok ok ok]", "raw"),
        ("W", "[xxx|test|tbc|see notes|na|#N/A|0]", "raw"),
    ],
    "spam": [
        ("C", "[buy|cheap|discount] [followers|likes|backlinks|SEO services][,|!] [visit|go to|click] {url}", "raw"),
        ("E", "[Congratulations|CONGRATULATIONS][!|,] [you have|you've] [won|been selected for] [an iPhone|a gift "
              "card|a cash prize][,|.] [claim|collect] [now|here] {url}", "raw"),
        ("E", "[We|we] [offer|provide] [cheap|low cost|affordable] [web design|SEO|app development|crypto investment] "
              "[services|solutions][,|.] [reply|contact us] [for|to get] [a free quote|more info]", "raw"),
        ("E", "[Dear|dear] [Sir/Madam|friend|beneficiary][,|] [I am|i am] [a|the] [banker|lawyer|prince] [with|and I "
              "have] [an urgent business proposal|a large sum to transfer]", "raw"),
        ("C", "[make|earn] [$5000|£3000|€4000] [a week|per week|weekly] [working from home|from your phone][!|!!|] "
              "{url}", "raw"),
        ("E", "[Your mailbox is full|Your password expires today|Unusual sign-in detected][,|.] [verify|confirm] "
              "your account at {url}", "raw"),
    ],
}
