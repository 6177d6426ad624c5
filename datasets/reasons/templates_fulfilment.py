"""Wording for the fulfilment codes: transit damage, wrong item shipped, missing parts, quantity, lateness,
duplicates. Layout and grammar: see ``templates``."""

from __future__ import annotations

from typing import Final

__all__ = ["WORDING"]

WORDING: Final[dict[str, list[tuple[str, ...]]]] = {
    "DAMAGED_IN_TRANSIT": [
        ("C", "[the|my|our] {short} arrived [damaged|broken|smashed|in pieces][.| - the box was [crushed|soaked|torn "
              "open].|]"),
        ("C", "box was [completely|badly|] [crushed|flattened|caved in] when it [arrived|got here] and the {short} "
              "inside {is} [cracked|bent|broken]"),
        ("C", "[the courier|the driver|{carrier}] [clearly|obviously|must have] dropped [it|the parcel][,|.] "
              "[the|my] {short} [{is} cracked|{has} a broken housing|came out in bits|{is} dented on one side]"),
        ("C", "[Received|Got] the {product} today but {it} [{is} damaged|{is} broken][,|.] [looks like it was|seems "
              "it got] "
              "[crushed|thrown around|dropped] in [transit|delivery|the post]"),
        ("C", "parcel [arrived|was delivered] [wet|soaking wet|water damaged] and the {short} [{is} ruined|got soaked "
              "through|{is} stained and warped]"),
        ("C", "[the|our] {product} [was|came] [cracked|scratched all over|shattered] on arrival[,|.] packaging "
              "[was|looked] "
              "[inadequate|far too thin|just a thin bag]"),
        ("C", "[casing|front panel|housing|frame] [cracked|snapped|bent] in [transit|shipping|delivery][ - see "
              "attached "
              "photos|, photos attached|]"),
        ("C", "delivery [guy|driver] [left it in the rain|threw it over the gate|left it outside] and [the box fell "
              "apart|it's all water damaged|the {short} {is} damaged]"),
        ("C", "[two|some|several|{qty_short}] of the [units|items|boxes] [arrived|came] [broken|dented|crushed][,|;] "
              "the "
              "[outer|shipping] [carton|box] [had a hole in it|was torn|was split open]"),
        ("C", "[it|the {short}] came [with a big dent|bent|with the corner smashed][,| -] clearly [damaged|happened] "
              "in "
              "[shipping|transit], not [our|my] fault"),
        ("C", "the pallet [arrived|was] [tipped over|broken|collapsed] and [half|most|a lot] of the [{short}|stock] "
              "[are|were] damaged"),
        ("E", "We took delivery of order {order} this morning. Unfortunately the {product} [was|were] "
              "[damaged|broken] in "
              "transit - the [box|carton] had [clearly been crushed|a forklift hole in it|boot prints on it] and the "
              "[unit|item] [is cracked|has a bent frame|is scratched and dented]."),
        ("P", "[arrived|came] [broken|smashed|damaged|crushed][ in the post| in transit|]"),
        ("P", "the {short} [got|{was}] [crushed|squashed|dented] [in the post|in transit|during delivery][ :(|!!|]"),
        ("C", "box [was|arrived] [crushed|smashed] and the {short} [{has} a cracked casing|{is} bent]; also [it "
              "arrived a "
              "few days late|the delivery was {days} days late] but [the main issue|my main problem] is the damage",
              "mixed:LATE_DELIVERY"),
        ("C", "[it arrived with|came with] a cracked housing [from the courier|from shipping] and [now|because of "
              "that] it "
              "[won't switch on|doesn't power up]", "mixed:DEFECTIVE", "needs:powered"),
        ("C", "[it's|it is] [cracked|dented] from [shipping|the courier] and [tbh|honestly] [we|I] [don't really "
              "need it "
              "anymore|could do without it], but [please|pls] treat it as [transit damage|damaged in delivery]",
              "mixed:NO_LONGER_NEEDED"),
        ("C", "[not a fault with the {short} itself|nothing wrong with how it works] - [the courier|{carrier}] "
              "[damaged|dented|scratched] it on the way[.|,] [the housing is cracked|it's scratched all over]",
              "negates:DEFECTIVE"),
        ("C", "[we|I] ordered the right [one|item] and it's the right [model|{attr_name}], but it [arrived|turned up] "
              "[smashed|broken|crushed]", "negates:WRONG_ITEM_SHIPPED"),
        ("C", "[nothing missing|nothing is missing, all the parts are there] but [several|some|a few] "
              "[pieces|panels|parts] are "
              "[snapped|cracked|bent] from [transit|shipping|delivery]", "negates:MISSING_PARTS"),
        ("R", "cust reports {short} [arrived|delivered] [damaged|dmg], [ctn|outer carton|box] crushed[, photos "
              "sent|, pics "
              "to follow|]"),
        ("R", "[visited site|on site today][,| -] saw the {short} - [cracked|dented|broken] in delivery, "
              "[packaging|pallet "
              "wrap] [torn|damaged]. cust wants [replacement|credit]"),
        ("R", "[order|ord] {order}: [{qty_short} of {qty}|part of the delivery] [arrived|came in] damaged[,| -] "
              "[courier|"
              "carrier] damage [noted on POD|signed for as damaged]"),
        ("R", "[transit|shipping] damage on {sku}[ - cust refused delivery|, cust signed damaged| - box crushed]"),
        ("W", "rcvd [ctn|carton|box] crushed, {short} [cracked|bent|dmg][,| -] [carrier damage|transit dmg|pod signed "
              "damaged]"),
        ("W", "[outer|master] [ctn|carton] [wet|torn|punctured], [contents|unit] [damaged|dmg][,|.] [qa hold|]"),
        ("W", "[return|rtn] rcvd - {qty_short} x {sku} [dmg in transit|dented in transit|broken in transit], "
              "[pkg|packaging] [insufficient|failed]"),
        ("X", "[DAMAGED IN TRANSIT|TRANSIT DAMAGE|CARRIER DAMAGE|RECEIVED DAMAGED]"),
        ("X", "[GOODS|ITEM|CARTON] [DAMAGED|CRUSHED] ON [DELIVERY|ARRIVAL|RECEIPT]"),
        ("X", "DMG [SHIPPING|TRANSIT][ - SEE POD| - PHOTOS SENT|]"),
    ],
    "WRONG_ITEM_SHIPPED": [
        ("C", "[I|we] ordered [the|a] {product} but [received|got|you sent] [a|the] {other}[ instead|]"),
        ("C", "wrong item [sent|shipped|delivered][,|.|!] [ordered|I ordered] {sku} [got|received] {other_sku}"),
        ("C", "[you|you guys] sent [me|us] the [wrong|incorrect] [item|product|thing][,|.] [my order|order] {order} "
              "[was for|says] {product}"),
        ("C", "the [label on the box|packing slip] says {product} but [inside|what's inside] [is|was] [a|the] {other}"),
        ("C", "[ordered|bought] {attr} [but|and] [received|got] {alt} - [the order confirmation clearly says "
              "{attr}|check "
              "my order, it says {attr}]"),
        ("C", "[this is not|that's not|not] what [I|we] ordered[.|,] [got|received] [a|the] {other} [in the box|in the "
              "parcel|][.| -] [please send the right one|need the correct item asap|]"),
        ("C", "[picking|packing] [error|mistake] on your side - [we|I] got {alt} and the order [is|was] for {attr}"),
        ("C", "the {short} [is|are] [a completely different|the wrong] [model|colour|size|version] to the one [on my "
              "order|on the order confirmation|I paid for]"),
        ("C", "[received|got] [someone else's|another customer's] order[ - it has a different name on the packing "
              "slip|]"),
        ("C", "the [box|parcel] [contained|had] {other} [x{qty}|], [should be|should have been] {product}"),
        ("E", "I placed order {order} for {qty} x {product} ({sku}). What arrived today is {qty} x {other} "
              "({other_sku}), which is not what we ordered. [Could you arrange a collection and send the correct "
              "items?|Please swap them for the right ones.]"),
        ("P", "wrong [item|product|thing|part] [sent|received|delivered]"),
        ("C", "it came [late|days late] [and|,] [on top of that|to make it worse] it's the wrong item - [ordered|I "
              "ordered] "
              "{attr}, [got|received] {alt}", "mixed:LATE_DELIVERY"),
        ("C", "[box|packaging] [was|is] [a bit|slightly] [damaged|dented] [too|as well] but [mainly|main issue:] [you "
              "sent|we got] [a|the] {other} instead of the {short}", "mixed:DAMAGED_IN_TRANSIT"),
        ("C", "[I|we] [checked|double-checked|double checked] [my|our] order and [it's not my mistake|I didn't order "
              "the "
              "wrong thing|the mistake isn't ours] - [I|we] ordered {attr}, [you sent|the box has] {alt}",
              "negates:ORDERED_WRONG_ITEM"),
        ("C", "[not damaged|nothing wrong with it] and [it works|it's good quality], [it's just|but it's] [not the "
              "item I "
              "ordered|the wrong item]: [got|received] [a|the] {other}", "negates:DEFECTIVE"),
        ("C", "[not|wasn't] a [quantity|qty] [problem|issue], [all|the] {qty} [are here|arrived], [they're|but "
              "they're] "
              "just the wrong [item|product|part number] ({other_sku} instead of {sku})",
              "negates:QUANTITY_DISCREPANCY"),
        ("R", "cust [ordered|ord] {sku}, [rcvd|received|got] {other_sku}[ - picking error|, mispick|]. pls [collect "
              "and "
              "resend|swap|exchange]"),
        ("R", "[mispick|wrong part shipped] on ord {order} - [cust needs|needs] {attr} not {alt}"),
        ("R", "[cust|site] [got|rcvd] wrong [item|parts|goods][,| -] [label|pack slip] [correct|ok] but "
              "[contents|goods "
              "in box] [wrong|are {other_sku}]"),
        ("R", "[wrong item|wrong goods] [delivered|sent] to cust[, urgent| - urgent|] - [pls|please] send correct "
              "{short}"),
        ("W", "rcvd {other_sku} [against|on] [ret|rtn] for {sku}[ - orig mispick| - mispick confirmed|]"),
        ("W", "[mispick|wrong item shipped]: [ord|order] {order} [shipped|sent] {other_sku} [instead of|in place of] "
              "{sku}"),
        ("W", "[rtn|return] [contents|item] [don't match|do not match] [order|so] line[, shipped wrong sku| - our "
              "picking err|]"),
        ("X", "[WRONG ITEM SHIPPED|INCORRECT ITEM SENT|MISPICK|WRONG PRODUCT DELIVERED]"),
        ("X", "ITEM [RECEIVED|SHIPPED] [DOES NOT MATCH|DIFFERENT FROM] [ORDER|PO][ - RCVD {other_sku}|]"),
        ("X", "[SUPPLIER|VENDOR] [SHIPPED|SENT] {other_sku} [IN LIEU OF|INSTEAD OF] {sku}"),
    ],
    "MISSING_PARTS": [
        ("C", "the {part} [is|was] missing [from the box|from the kit|from the package]"),
        ("C", "[no|there's no] {part} [in the box|included|came with it][,|.] [it's|it is] [supposed to|meant to] [be "
              "included|come with one]"),
        ("C", "missing [parts|pieces|components][:| -] [no|the] {part} [and|or|,] [no|the] {part2}"),
        ("C", "[kit|set] [incomplete|is incomplete|not complete][,|.] the {part} [isn't|is not] there"),
        ("C", "[can't|cannot] [assemble|set up|use] [it|the {short}] [because|as|bc] the {part} [is|are] missing"),
        ("C", "box [had|contained] [everything except|all but] the {part}"),
        ("C", "opened the [box|package] and [there's|there is] no {part}[, only the {short}|]"),
        ("C", "[half the|some of the|the] [screws|fixings|bolts|hardware] [are|were] [missing|not in the bag|not "
              "included][,|.] [can't|cannot] finish [assembly|building it]", "needs:assembly"),
        ("C", "[packing list|the parts list|the manual] [shows|lists] [a|the] {part} but [it wasn't|it isn't|it's not] "
              "in the box"),
        ("C", "the {short} came [without|with no] {part}[, which makes it useless|, so can't use it|]"),
        ("E", "We received the {product} on {day}. The box was sealed but the {part} listed in the contents is not "
              "there. [Can you send the missing part|Please send it on], or we will need to return the whole kit."),
        ("P", "[parts missing|missing parts|incomplete|missing pieces|bits missing]"),
        ("C", "[took ages to arrive|arrived late][,| and] [when it finally came|then] the {part} [was missing|wasn't "
              "in "
              "the box]", "mixed:LATE_DELIVERY"),
        ("C", "[box was battered|box was split open|the seal was broken] [and|,] the {part} [is|was] [gone|missing]",
              "mixed:DAMAGED_IN_TRANSIT"),
        ("C", "[not|it's not] a [quantity|qty] issue - [all|the] {qty} [units|kits] [arrived|turned up] but [each "
              "one|every kit] is missing the {part}", "negates:QUANTITY_DISCREPANCY"),
        ("C", "the {short} [itself|] [works|seems fine|is fine], [it's not faulty|nothing's broken], [but|it's just "
              "that] "
              "the {part} [is missing|wasn't included]", "negates:DEFECTIVE"),
        ("C", "[box|packaging] [was|arrived] [sealed|intact|undamaged][,| and] [nothing damaged|no damage at all], "
              "[but|just] the {part} [is missing|wasn't packed]", "negates:DAMAGED_IN_TRANSIT"),
        ("R", "cust [reports|says] {part} [missing|not incl|not included] [from|in] {short}[ kit|] - [pls|please] "
              "[send|ship] [missing part|{part}][ asap| urgently|]"),
        ("R", "[incomplete|short] kit on {sku}[:| -] no {part}[, cust waiting| - cust cannot commission|]"),
        ("R", "[site visit|on site][,|:] {short} [delivered|rcvd] [without|w/o] {part}"),
        ("W", "rcvd [kit|unit|set] [incomplete|incompl][,| -] [{part} missing|missing {part}][ - pkg intact| - seal "
              "intact|]"),
        ("W", "[insp|inspection]: [missing|no] [components|parts|accessories][:| -] {part}"),
        ("W", "[rtn|return] [rcvd|received] [w/o|without] {part}[, cust says never supplied| - orig shipped w/o|]"),
        ("X", "[MISSING PARTS|PARTS MISSING|INCOMPLETE KIT|COMPONENTS MISSING][ - {part}|]"),
        ("X", "[ITEM|KIT|UNIT] [INCOMPLETE|NOT COMPLETE][ - MISSING ACCESSORIES| - NO {part}|]"),
        ("X", "[ACCESSORY|COMPONENT] NOT [SUPPLIED|INCLUDED][ - {part}|]"),
    ],
    "QUANTITY_DISCREPANCY": [
        ("C", "[ordered|we ordered] {qty} [but|and] [only|] [received|got] {qty_short}"),
        ("C", "[we|I] [only|] [got|received] {qty_short} [of|out of] {qty}[ units| pcs|]"),
        ("C", "[short|short delivery|short shipped][,|.] [we're|we are] [missing|short] {diff} [units|boxes|pcs]"),
        ("C", "[received|got] {qty_over} [instead of|but ordered|when we ordered] {qty}[, returning the extra "
              "{extra}|]"),
        ("C", "you sent [too many|more than we ordered|extra][,|.] [we|I] [ordered|only ordered|only need] "
              "{qty}[ and got {qty_over}|]"),
        ("C", "[quantity|qty] [wrong|incorrect|doesn't match][,|:] [ordered|PO says] {qty}, [delivered|received|box "
              "has] "
              "{qty_short}"),
        ("C", "only {qty_short} [in the box|in the pack|came][ - should be|, but the order was for|, order says] "
              "{qty}"),
        ("C", "[the invoice|the delivery note|the packing slip] [says|shows] {qty} [but|,] [only|just] {qty_short} "
              "[arrived|were in the delivery|turned up]"),
        ("C", "[a|the] box of {pack_n} only [had|contained] {pack_short} [in it|pieces|when we counted]", "needs:bulk"),
        ("C", "[we're|we are] [returning|sending back] the [extra|surplus|excess] {extra} [units|{short}] [that|which] "
              "[weren't|were not] on [our|the] order"),
        ("E", "Order {order} was for {qty} x {product}. We've counted the delivery twice and there are only "
              "{qty_short}. Please either send the remaining {diff} or credit us for them."),
        ("P", "[wrong quantity|wrong qty|quantity wrong|not enough items|too many items sent]"),
        ("C", "[delivery|it] [was|came] [late|{days} days late] and [on top of that|also] [we only got|only] "
              "{qty_short} "
              "of the {qty} [we ordered|ordered]", "mixed:LATE_DELIVERY"),
        ("C", "[one|a] box [was|looked] [a bit|slightly] [bashed|dented], [but|though] [the main thing|the real issue] "
              "is [we're|we are] {diff} short", "mixed:DAMAGED_IN_TRANSIT"),
        ("C", "nothing [missing|is missing] from the [units|{short}] themselves[,| -] [we|I] just [got|received] "
              "{qty_short} [instead of|when we ordered] {qty}", "negates:MISSING_PARTS"),
        ("C", "[right|correct] [item|product|part number], [wrong|incorrect] [amount|quantity|count][:| -] {qty_short} "
              "[instead of|not] {qty}", "negates:WRONG_ITEM_SHIPPED"),
        ("C", "[we|I] [didn't|did not] order twice[,|;] [you|your warehouse] [just|simply] sent {qty_over} [instead "
              "of|when we ordered] {qty}", "negates:DUPLICATE_ORDER"),
        ("R", "cust [rcvd|received|got] {qty_short} [of|vs] {qty} [on|for] ord {order}[, short {diff}| - short "
              "shipped|]"),
        ("R", "[over-shipped|overshipped|over delivery] [on|to] cust[,| -] {qty_over} sent [vs|against] {qty} "
              "ordered[, pls collect {extra}|]"),
        ("R", "[qty|quantity] [disc|discrepancy] {sku}[:| -] [ordered|po] {qty} [delivered|dlvd] {qty_short}"),
        ("W", "[rtn|return] rcvd [qty|quantity] {extra}[ - over shipment| over-shipped| - surplus to order]"),
        ("W", "[count|cnt] [short|variance][,|:] [exp|expected] {qty} [rcvd|received] {qty_short}"),
        ("W", "[qty|quantity] [mismatch|variance] [vs|against] [po|PO] {po}[: {qty_short}/{qty}|]"),
        ("X", "[SHORT SHIPPED|SHORT DELIVERY|OVER SHIPPED|QTY DISCREPANCY|QUANTITY VARIANCE]"),
        ("X", "[QTY|QUANTITY] [RECEIVED|DELIVERED] [DIFFERS FROM|DOES NOT MATCH|LESS THAN] [PO|ORDER][ - RCVD "
              "{qty_short} ORD {qty}|]"),
        ("X", "[EXCESS|SURPLUS] [QTY|QUANTITY] [SHIPPED|DELIVERED][ - {extra} UNITS|]"),
    ],
    "LATE_DELIVERY": [
        ("C", "[arrived|came] [too late|way too late|{days} days late|a week late][,|.] [needed it for|it was for] "
              "{need}"),
        ("C", "[it|the {short}] [was supposed to arrive|should have arrived|was due] [on|by] {day} [but|and] [only|] "
              "[came|arrived] {days} days later[,|.] [no use now|too late for us|missed the deadline]"),
        ("C", "delivery [was|came] [late|delayed] and [we|I] [missed|had to cancel] {need}[,|.] [returning|sending it "
              "back]"),
        ("C", "missed the [delivery date|promised date|deadline][,| -] [had to|we had to|I had to] [buy|source|get] "
              "[one|it] [elsewhere|locally|from another supplier]"),
        ("C", "[promised|guaranteed] [next day|next-day|2-day|48 hour] delivery[,|.] [took|it took] [a week|two "
              "weeks|{days} days][,|.] [don't want it now|not acceptable|sending it back]"),
        ("C", "[too late|arrived after the event][,| -] we needed it for {need}"),
        ("C", "the {short} [turned up|arrived|showed up] [after|long after] [the job was finished|we'd finished the "
              "job|the shutdown|the install date]"),
        ("C", "waited [{weeks} weeks|ages|over {days} days] for [this|it][,|.] [by the time it|when it finally] "
              "[arrived|came] [we|I] had [already sourced it|already bought another]"),
        ("C", "order {order} was [{days} days|a week|two weeks] [overdue|late][ - the site|,] [couldn't wait|had to "
              "use "
              "an alternative]"),
        ("C", "[not|wasn't] [delivered|shipped] [on time|by the date promised|within the lead time][,|.] [please|pls] "
              "[collect|take it back|accept the return]"),
        ("C", "the {short} [took|has taken] [forever|ages|{weeks} weeks] [to arrive|to be delivered][,|.] "
              "[returning it|don't want it now|sending it back]"),
        ("E", "The {product} on order {order} was promised for {day} so our engineers could use it "
              "for {need}. It was finally delivered {days} days later, after we had to hire a replacement. We'd like "
              "to return it unopened."),
        ("P", "[late delivery|delivered late|arrived late|too late|came too late]"),
        ("C", "[came|arrived] {days} days late [and|,] [the box was|packaging] [a bit|slightly] [battered|torn][,|;] "
              "[mainly|but mostly] [returning|it's going back] because [it was|it's] [too late|late]",
              "mixed:DAMAGED_IN_TRANSIT"),
        ("C", "[delivered|it came] [late|after the deadline] [so|and now] [we|I] [don't need|have no use for] it",
              "mixed:NO_LONGER_NEEDED"),
        ("C", "the {short} [{is} fine|{is} in perfect condition][,|;] [nothing wrong with {them}|not faulty][,| -] "
              "[{it} just|but {it}] [arrived|came] {days} days [after the promised date|too "
              "late]", "negates:DEFECTIVE"),
        ("C", "[we|I] [would have|could have] [used|needed] it - [it's not that we changed our mind|not a change of "
              "mind][,|;] it [just|simply] [came|arrived] [too late|after {need}]", "negates:NO_LONGER_NEEDED"),
        ("C", "[wasn't|not] [damaged|the wrong item][,| -] [it's|it was] [just|simply] [late|delayed] [by {days} "
              "days|a week]", "negates:DAMAGED_IN_TRANSIT"),
        ("R", "[cust|customer] [rejecting|refusing|returning] [late|delayed] [delivery|shipment][,| -] [arrived|dlvd] "
              "{days} days [after|past] [due date|promised date|ETA]"),
        ("R", "[missed|late for] [shutdown|install|commissioning] at {site}[,| -] [cust|site] [sourced elsewhere|used "
              "alternative][. rtn for credit|]"),
        ("R", "[ord|order] {order} [late|delayed] [by|] {days} [days|d][,| -] cust [wants to return|rtn req]"),
        ("W", "rcvd [unopened|sealed][,| -] [rsn|reason]: [late dlvry|late delivery|dlvd late][, cust refused|]"),
        ("W", "[rtn|refused] [delivery|dlvry][ - arrived|,] [after|past] [req date|required date|due date]"),
        ("W", "[refused|rejected] on [delivery|arrival][ - {days} days late| - too late|]"),
        ("X", "[LATE DELIVERY|DELIVERED LATE|MISSED DELIVERY DATE|PAST DUE DELIVERY]"),
        ("X", "[RECEIVED|DELIVERED] [AFTER|PAST] [REQUIRED|REQUESTED|PROMISED] DATE[ - {days} DAYS LATE|]"),
        ("X", "[SHIPMENT|ORDER] [DELAYED|OVERDUE][ - NO LONGER REQUIRED| - REFUSED|]"),
    ],
    "DUPLICATE_ORDER": [
        ("C", "[ordered|I ordered] [this|it] twice by [mistake|accident][,|.] [returning|sending back] [one|the second "
              "one|the duplicate]"),
        ("C", "duplicate order[,|.|:] [order|orders] {order} and {order2} [are|were] [the same|identical]"),
        ("C", "the [website|app|checkout|page] [froze|crashed|hung] and [I|we] [submitted|placed] the order twice"),
        ("C", "[received|got] [two|2] [deliveries|parcels|boxes] [for|of] the same order[,|.] [only|we only] [ordered|"
              "wanted|need] one"),
        ("C", "[two of|both] [my|our] [colleagues|team members|buyers] [ordered|raised a PO for] the same {short}[,|.] "
              "[only need one|returning the duplicate]"),
        ("C", "accidentally [placed|submitted] [the same|my] order [twice|two times|again][,|.] [please|pls] "
              "[cancel|refund|collect] the [second|extra] one"),
        ("C", "[we were|I was] [charged|billed] [twice|double] [and|,] [received|got] two of [the {short}|everything]"
              "[,| -] [only ordered once|need to return one set]"),
        ("C", "[our|the] [system|ERP|purchasing system] [sent|transmitted] [the|our] PO {po} twice[,|.] [so|and] [we|] "
              "[got|received] [a|the] [duplicate|double] [shipment|delivery]"),
        ("C", "[I'd|I had] [already|previously] [ordered|bought] [this|it] [last week|yesterday|on {day}] and [forgot|"
              "didn't realise], [now|so now] [I have|we have] two"),
        ("C", "double [order|ordered|click][,| -] [returning|send back] [one|the extra] {short}"),
        ("E", "It looks like our order went through twice - we have two confirmations, {order} and {order2}, for "
              "exactly the same {product}. We only need one, so please arrange a return for the duplicate."),
        ("P", "[duplicate order|ordered twice|double order|dup order]"),
        ("C", "[reordered|re-ordered] [because|as] [I|we] thought the first order [hadn't gone through|had "
              "failed][,|.] "
              "[now|and now] [both|two] [arrived|have turned up]"),
        ("C", "[oops|sorry], [I|we] [ordered|bought] [the same thing|this] [twice|two times]"),
        ("C", "[we|I] ordered [it|this] twice by [mistake|accident] [and|,] [one of them|the second one] "
              "[arrived|came] "
              "[dented|with a dented box][,|;] [returning|sending back] the [duplicate|extra one]",
              "mixed:DAMAGED_IN_TRANSIT"),
        ("C", "duplicate order [and|,] [to be honest|tbh] [we|I] [don't need|no longer need] [either one|the first one "
              "either][,| but] [for now|] [returning|please take back] the [duplicate|second one]",
              "mixed:NO_LONGER_NEEDED"),
        ("C", "[your warehouse|you] [didn't|did not] send too many[,|;] [it's|it was] [our|my] [fault|mistake] - "
              "[we|I] "
              "placed the same order twice", "negates:QUANTITY_DISCREPANCY"),
        ("C", "[nothing wrong with|no problem with] the {short}[,| -] [we|I] [just|simply] [ordered|bought] {them} "
              "twice",
              "negates:DEFECTIVE"),
        ("R", "cust [placed|raised|submitted] [dup|duplicate] [order|PO][,| -] {order} [and|&] {order2}[. pls "
              "cancel/collect one| - rtn one|]"),
        ("R", "[dup|duplicate|double] [PO|order] [from|by] cust ({po})[ - EDI sent twice| - keyed twice|]"),
        ("R", "cust [ordered twice|double ordered][,| -] [only needs|wants] [one|1] {short}"),
        ("W", "rcvd [rtn|return] [of|for] [dup|duplicate] [order|shipment][,| -] [unopened|sealed]"),
        ("W", "[dup|duplicate] [ord|order] {order2}[,| -] [goods|item] [rcvd back|returned] [as new|A grade]"),
        ("X", "[DUPLICATE ORDER|DUPLICATE PO|DUPLICATE SHIPMENT|ORDERED TWICE]"),
        ("X", "[PO|ORDER] [TRANSMITTED|SENT|ENTERED] TWICE[ - RETURN DUPLICATE|]"),
        ("X", "[DUPLICATE OF|DUP OF|SEE ORIGINAL] [ORDER|PO] {order2}"),
    ],
}
