"""Wording for the customer-side codes: ordered the wrong item, no longer needed, and ``OTHER`` (genuine
return reasons no other code covers). Layout and grammar: see ``templates``."""

from __future__ import annotations

from typing import Final

__all__ = ["WORDING"]

WORDING: Final[dict[str, list[tuple[str, ...]]]] = {
    "ORDERED_WRONG_ITEM": [
        ("C", "[I|we] ordered the wrong [size|one|model|item][,|.] [my mistake|my bad|sorry|oops]"),
        ("C", "[accidentally|by mistake|mistakenly] [ordered|selected|picked] {attr} [instead of|rather than|when I "
              "needed] {alt}"),
        ("C", "[I|we] [clicked|selected|chose] the wrong [option|variant|{attr_name}] [on the website|when "
              "ordering|in the dropdown][ - needed {alt}|]"),
        ("C", "[typo|a typo] [in|on] [our|my] [PO|order][,|:] [we|I] [entered|typed|put] {sku} [but meant|instead "
              "of] {other_sku}"),
        ("C", "[my fault|entirely my fault|my own error] - [I|we] [thought|assumed] [it was|I was buying] {alt} but "
              "it's {attr}, which is what the listing [said|clearly states]"),
        ("C", "[ordered|bought] the wrong [{attr_name}|one], [need|I need|we need] {alt}[, can I exchange|, swap "
              "please|]"),
        ("C", "[ordered|bought] {attr} [by mistake|in error|accidentally][ - wrong {attr_name}|][,|.] [need|should "
              "have "
              "been] {alt}"),
        ("C", "wrong [part number|item] [ordered|entered] by [us|me|our buyer|our purchasing team][,|.] [would like "
              "to|can we] [exchange|swap] [it|] for {other_sku}"),
        ("C", "[I|we] [meant to|wanted to] [order|buy] the {other}[ not|, not] the {short}[. silly me| - ordered the "
              "wrong one|]"),
        ("C", "[I|we] [mixed up|confused] the [part numbers|codes|SKUs] [when ordering|on the order][,|.] "
              "[needed|we need] {other_sku}"),
        ("P", "[ordered wrong size|ordered the wrong item|wrong size ordered|ordered wrong one|my mistake wrong "
              "item]"),
        ("C", "[didn't|did not] [realise|realize|notice] there [were|are] [two|different] [versions|sizes|models] "
              "[and|,] [picked|ordered] the wrong one"),
        ("E", "[Apologies|Sorry], this one is on us: [our apprentice|a new starter|I] ordered {qty} x {product} "
              "when we actually needed the {alt} version. Could we exchange them? [They're still sealed.|They "
              "haven't been used.|]"),
        ("C", "[it took ages to arrive|delivery was slow] [but|, but] [honestly|to be fair] [I|we] ordered the wrong "
              "{attr_name} anyway[ - need {alt}|]", "mixed:LATE_DELIVERY"),
        ("C", "[we|I] ordered the wrong [model|one] and [we|I] [don't really need|no longer need] the {short} "
              "[anyway|now either]", "mixed:NO_LONGER_NEEDED"),
        ("C", "[not your fault|your team didn't make a mistake|you sent exactly what I ordered] - [I|we] ordered "
              "{attr} [by mistake|in error], [need|needed] {alt}", "negates:WRONG_ITEM_SHIPPED"),
        ("E", "Apologies, our [apprentice|site manager|buyer] ordered {qty} x {product} when we actually needed "
              "{alt}. Nothing wrong with the goods, they're unopened. Could we exchange them?",
              "negates:DEFECTIVE"),
        ("C", "[box|packaging] [fine|perfect|undamaged], [item|{short}] [fine|perfect] - [I just|we just] "
              "[ordered|picked] the wrong [size|{attr_name}]", "negates:DAMAGED_IN_TRANSIT"),
        ("C", "[my mistake|our mistake], [ordered|bought] {attr} [instead of|not] {alt}; the box got a bit squashed "
              "[but that's not the issue|but the item is fine]", "negates:DAMAGED_IN_TRANSIT"),
        ("R", "cust ordered wrong {attr_name} ({attr}), [needs|wants] {alt}[. pls exchange| - exchange pls|]"),
        ("R", "[buyer|cust] [error|mistake] on [PO|po] {po} - [keyed|entered|typed] {sku} [should be|instead of] "
              "{other_sku}"),
        ("R", "cust [ordered in error|ordered incorrectly|selected wrong item online][, unopened|, still sealed|]"),
        ("R", "[cust|customer] [admits|says] [they|he|she] [picked|chose|ordered] wrong [variant|model|size][,| -] "
              "[swap for|needs] {alt}"),
        ("W", "rcvd [unopened|sealed|as new][,| -] [cust ordered in error|cust order error|ordered wrong size]"),
        ("W", "[rtn|return] [reason|rsn] [cust error|customer ordering error][,| -] [goods|item] [resaleable|ok|A "
              "grade]"),
        ("X", "[ORDERED IN ERROR|CUSTOMER ORDER ERROR|ORDER ENTRY ERROR - BUYER|INCORRECT ITEM ORDERED]"),
        ("X", "[BUYER|CUSTOMER] [ORDERED|SELECTED] WRONG [SIZE|PART|ITEM][ - REQ {other_sku}|]"),
        ("X", "[PO|ORDER] [KEYED|ENTERED] INCORRECTLY BY [BUYER|CUSTOMER]"),
    ],
    "NO_LONGER_NEEDED": [
        ("C", "[no longer needed|don't need it anymore|dont need it any more|not needed anymore|no longer required]"),
        ("C", "[changed my mind|change of mind][,|.|] [sorry|don't need it|]"),
        ("C", "[the|our] project [was|got|has been] [cancelled|canceled|postponed indefinitely|scrapped][,|.] [so|] "
              "[we|I] [don't need|no longer need|won't need] the {short}"),
        ("C", "found [it|the same thing|one] [cheaper|for less|at a better price] [elsewhere|locally|somewhere else]"),
        ("C", "[bought|ordered] [too many|more than we needed|extra][,|.] [returning|sending back] the [spare|unused] "
              "{extra}"),
        ("C", "[we|I] [decided|have decided] to go [another way|with a different solution|in a different direction]"),
        ("C", "the [job|contract|install] [fell through|was cancelled|got pulled][,|.] the {short} {is} [surplus|not "
              "needed now]"),
        ("C", "[my|the|our end] [customer|client] cancelled [their|the] order[,|.] [so|] [we|I] [have no use for|don't "
              "need] [it|these|the {short}]"),
        ("C", "[already|turns out we already] [had|have] one[,|.] [didn't realise|didn't know] [we|I] [had a "
              "spare|still had stock]"),
        ("C", "[unopened|still sealed][,|.] [simply|just] [don't need it|not needed|no longer required][, please "
              "refund|]"),
        ("E", "We ordered the {product} for a refurbishment at {site}, but the client has put the whole "
              "project on hold. The item is unused and still in its original packaging, so we'd like to send it back "
              "for a refund."),
        ("P", "[dont want it|don't want it anymore|do not need|not required|no longer want]"),
        ("C", "ordered it [just in case|as a backup|for a job that never happened][,|.] [didn't need it|never used "
              "it]"),
        ("C", "the box is a little scuffed [but|,] [mainly|really] [we|I] [just|] [don't need it|no longer need it] "
              "[now|anymore]", "mixed:DAMAGED_IN_TRANSIT"),
        ("C", "[we|I] [also|] noticed the manual [is missing|isn't included], not a big deal[,|;] the [reason|main "
              "reason] [for the return|we're returning it] is [we|the team] [don't need it|no longer need it]",
              "mixed:MISSING_PARTS"),
        ("C", "nothing wrong with [it|the {short}][,|.] [arrived on time|came on time|delivery was fine] and [works "
              "fine|is in perfect condition][,|.] [we|I] just [don't need|no longer need] it", "negates:DEFECTIVE"),
        ("C", "it [came|arrived] a [bit|couple of days] late but [that's not really why|that's not the reason][,| -] "
              "[we|I] [just|simply] don't need it [anymore|any more]", "negates:LATE_DELIVERY"),
        ("C", "[it's|it is] not [faulty|defective][,|;] [not damaged|undamaged][,|;] [we|I] [simply|just] [changed our "
              "mind|changed my mind|don't need it]", "negates:DAMAGED_IN_TRANSIT"),
        ("R", "cust [no longer requires|no longer needs|doesn't need] {short}[, project cancelled|, job cancelled| - "
              "surplus to req|]"),
        ("R", "[surplus|overstock|excess] [stock|material] [from|after] [the project|the job] [at|on] {site}[ - cust "
              "wants credit| - rtn for credit|]"),
        ("R", "cust [changed mind|cancelled the requirement][,| -] [goods|item] unopened"),
        ("R", "[buyer|cust] [found|sourced] [cheaper|locally|an alternative][,| -] [wants to return|rtn requested]"),
        ("W", "rcvd [unopened|sealed|unused][,| -] [rsn|reason]: [not reqd|not required|no longer reqd|surplus]"),
        ("W", "[rtn|return] [rcvd|received] [as new|A grade|resaleable][,| -] [cust no longer needs|not needed by "
              "cust|change of mind]"),
        ("X", "[NO LONGER REQUIRED|NOT REQUIRED|NO LONGER NEEDED|SURPLUS TO REQUIREMENTS|CHANGE OF MIND]"),
        ("X", "[PROJECT|ORDER|JOB] CANCELLED[ - RETURN FOR CREDIT| BY END CUSTOMER|]"),
        ("X", "[EXCESS|SURPLUS] [STOCK|INVENTORY] [RETURN|RETURNED][ - UNUSED|]"),
    ],
    "OTHER": [
        ("C", "[it was|it's] a gift [and|but] [the recipient|my brother|my colleague|they] already [has|had] one"),
        ("C", "unwanted gift[,|.|] [returning for|looking for] [store credit|a credit|an exchange|]"),
        ("C", "[received|got] [this|it] as a [gift|present|leaving present|Christmas present][,|.] [would like "
              "to|want to|can I] [return|exchange] it"),
        ("C", "[our|the] [company|head office|procurement team] [changed|has changed|updated] [its|their|our] "
              "[supplier policy|approved supplier list|purchasing policy][,|.] [we have to|must|need to] "
              "[return|send back] [non-approved|off-contract] [items|purchases]"),
        ("C", "[manufacturer|maker] [recall|issued a recall|safety recall][,| -|:] [recall|reference|ref] "
              "[notice|no.|] {recall}[, returning as instructed|]"),
        ("C", "[site|our site] [safety rules|H&S rules|health and safety team] [no longer allow|have banned|don't "
              "permit] [this type of {short}|the {short}][ on site|]"),
        ("C", "[trial|evaluation|demo] [unit|period|loan] [finished|ended|is over][,| -] [returning|sending back] "
              "[as agreed|per the agreement|as arranged]"),
        ("C", "returning [unsold|slow-moving|seasonal] stock [under|per|as per] [our|the] [consignment|stock "
              "rotation|sale-or-return] agreement"),
        ("C", "[trade-in|part exchange][,| -] [returning|sending] [the old unit|the old {short}] [against|for] [the "
              "upgrade|the new model|our new order]", "needs:durable"),
        ("C", "[a staff member|one of our staff|my colleague|I] [had|developed] [an allergic|a skin] reaction to "
              "[the|these] {short}[,|.] [we|] [can't|cannot] [use|keep] them", "needs:wearable"),
        ("C", "[new|new EU|new UK] [regulations mean|legislation means|standards mean] [we can't|we're not allowed "
              "to|we're no longer allowed to] [use|sell|install] [this|these|the {short}] [any more|from next month]"),
        ("C", "[export restrictions mean|export licence rules mean|the export licence means] [we can't|we cannot] "
              "[ship|send] [this|these|it] to [our|the] [overseas|end] customer"),
        ("C", "[our end customer|the client|our customer] [requires|specifies] [UK-made|locally made|FSC certified|"
              "conflict-free certified] [products|goods][,|;] [this one|it] [isn't|is not][,|.] [compliance|"
              "procurement] [rule|requirement]"),
        ("E", "Following a group-wide decision, all {category} purchases now have to go through our new "
              "framework supplier. Unfortunately that means we have to return the {product} ordered before the "
              "change. The goods are unopened."),
        ("P", "[gift return|returning a gift|unwanted present|unwanted gift|was a gift]"),
        ("C", "recalled by the [manufacturer|maker] [and|,] [ours|the one we have] [was|is] [also|] [faulty|playing "
              "up] "
              "[anyway|already][,|;] [returning|sending back] [per|under] [the recall|recall {recall}]",
              "mixed:DEFECTIVE"),
        ("C", "[gift|present] [return|] - [it's|it is] [also|] [the wrong size|too big] [for them|for the recipient]",
              "mixed:ORDERED_WRONG_ITEM"),
        ("C", "nothing wrong with [the product|it] and [we|I] [still need|would keep] [it|the product][,| -] [but|] "
              "[our|the company's] [new supplier policy|procurement policy|vendor consolidation] [means|says] it "
              "[must|has to] [go back|be returned]", "negates:NO_LONGER_NEEDED"),
        ("C", "[not|it's not] [faulty|defective][,| -] [but|] [it's|it is] [subject to|covered by|part of] [a|the] "
              "[manufacturer's|maker's] [recall|safety recall]", "negates:DEFECTIVE"),
        ("C", "[didn't|did not] [order|buy] [it|this] [myself|ourselves][,| -] [it was|it's] a [gift|present] "
              "[and|but] "
              "[I|we] [can't use it|would rather have credit]", "negates:ORDERED_WRONG_ITEM"),
        ("R", "cust [returning|rtn] [under|per] [consignment|SOR|sale or return] [agreement|terms][,| -] [unsold|slow "
              "moving] [stock|lines]"),
        ("R", "[vendor|supplier] [consolidation|rationalisation] at cust[,| -] [all|open] [orders|lines] for "
              "{category} "
              "[to be returned|returning][ per their procurement|]"),
        ("R", "[demo|eval|trial] unit [back from|returned by] cust [at|from] {site}[, eval complete| - trial over|]"),
        ("R", "cust [H&S|safety] [dept|team] [banned|won't approve|rejected] [product|{short}] [for site use|on "
              "site][,| -] [pls|please] [credit|collect]"),
        ("W", "rcvd [recall|RECALL] [rtn|return][,| -] [ref|recall ref] {recall}[, quarantine|]"),
        ("W", "[consignment|SOR|sale or return] [stock|return] rcvd[,| -] [per agreement|per contract|stock rotation]"),
        ("X", "[STOCK ROTATION|CONSIGNMENT RETURN|SALE OR RETURN|MANUFACTURER RECALL][ - PER AGREEMENT|]"),
        ("X", "[RECALL|SAFETY RECALL] [RETURN|REF] {recall}"),
        ("X", "[VENDOR|SUPPLIER] [CONSOLIDATION|POLICY CHANGE][ - RETURN FOR CREDIT|]"),
    ],
}
