"""Wording for the product codes: defective, not as described, incompatible, warranty claim, expired or short
dated. Layout and grammar: see ``templates``."""

from __future__ import annotations

from typing import Final

__all__ = ["WORDING"]

WORDING: Final[dict[str, list[tuple[str, ...]]]] = {
    "DEFECTIVE": [
        ("C", "[it|the {short}] [won't|will not|doesn't|does not] [turn on|power on|switch on|start][ at all|, tried "
              "different sockets| even after charging|]", "needs:powered"),
        ("C", "[dead on arrival|DOA] - [nothing happens when I press the [switch|trigger|power button]|no lights, "
              "nothing|completely dead]", "needs:powered"),
        ("C", "the {short} [stopped working|died|packed up|cut out] [after one use|after a day|after a couple of hours|"
              "after two days|within an hour]",
              "needs:powered"),
        ("C", "[battery|unit] [won't|doesn't] [hold a charge|charge][,|.] [the charger light just flashes red|tried "
              "two "
              "chargers|it's dead within minutes]", "needs:powered"),
        ("C", "[makes a|there's a] [horrible|loud|grinding|clicking] [noise|sound] [when running|as soon as I start "
              "it|under load] and [smells of burning|smokes|stalls]", "needs:powered"),
        ("C", "the {short} [is faulty|has a fault|is defective] - it keeps [tripping the breaker|cutting out|"
              "overheating|rebooting]", "needs:powered"),
        ("C", "[half|several|a lot] of the {short} [snapped|sheared|stripped] [the first time we used them|straight "
              "away|on first use][,|.] [clearly|obviously] [a bad batch|poor quality metal|a manufacturing defect]",
              "needs:bulk"),
        ("C", "[the threads are|the thread is] [damaged|malformed|badly cut] on [most|half] of the {short}[, nuts "
              "won't "
              "run on|, can't get them to engage|]", "needs:threaded"),
        ("C", "[screen|display] [flickers|has dead pixels|shows lines|stays black] [from the moment I|since I first] "
              "[plugged it in|turned it on]", "needs:screen"),
        ("C", "the {short} [doesn't work|does not work|is not working|isn't working][.|!|, please replace|, want a "
              "refund]", "needs:powered"),
        ("C", "[the gas lift|the height adjustment|the mechanism|the lock] [is broken|doesn't work|sinks|is stuck] "
              "[straight out of the box|from day one|since assembly]", "needs:assembly"),
        ("C", "the {short} [tear|rip|split|fall apart] [as soon as|when] you put them on[,|.] [faulty batch|the whole "
              "box is like that|]", "needs:wearable", "needs:bulk"),
        ("C", "[manufacturing|factory] [defect|fault]: [weld|seam|housing] [cracked|split] [on first use|under normal "
              "load|the first time we used it]"),
        ("E", "We received the {product} ({sku}) on {day}. [Our technician|The engineer|I] set it up following "
              "the manual, but it [will not power on|trips the breaker immediately|cuts out after a few seconds]. We "
              "have tried [a different socket|a second unit of our own|resetting it] with the same result. Please "
              "advise on a replacement.", "needs:powered"),
        ("P", "[faulty|defective|doesn't work|not working|broken out of the box|DOA]"),
        ("C", "box was [dented|a bit battered|a bit squashed] but [the real problem|the actual issue|what matters] is "
              "[it won't power on|it doesn't turn on|the {short} is dead]", "mixed:DAMAGED_IN_TRANSIT",
              "needs:powered"),
        ("C", "[it came|arrived] [late|a week late] [which was annoying|,] but [worse|more importantly], [it doesn't "
              "work|it's faulty|it won't start]", "mixed:LATE_DELIVERY", "needs:powered"),
        ("C", "[the manual was|the instructions were] missing [too|as well], but [the main thing|main issue] is [the "
              "unit|it] [is dead|won't switch on|trips the breaker]", "mixed:MISSING_PARTS", "needs:powered"),
        ("C", "[box|packaging] was [fine|perfect|undamaged|in perfect condition], [nothing was damaged in transit|no "
              "shipping damage], it just [won't turn on|doesn't work|is dead]", "negates:DAMAGED_IN_TRANSIT",
              "needs:powered"),
        ("C", "[it's|it is] the right [model|{attr_name}] [and|,] [not a compatibility issue|definitely "
              "compatible|fits fine], it's just [faulty|broken|not working]", "negates:INCOMPATIBLE"),
        ("C", "[this isn't a change of mind|not sending it back because we changed our mind] - the {short} [is "
              "faulty|doesn't work properly|keeps cutting out]", "negates:NO_LONGER_NEEDED", "needs:powered"),
        ("R", "cust says {short} [DOA|dead on arrival|faulty out of box], [tested|checked] [on site|in front of "
              "me][, confirmed dead|, no power|]", "needs:powered"),
        ("R", "[faulty|defective] {sku} - [cust|customer] reports [intermittent fault|cuts out|overheats][, qty "
              "{qty}|]",
              "needs:powered"),
        ("R", "[cust|buyer] [unhappy|not happy][,| -] [{qty_short} of {qty}|some] units [faulty|failing QC|not "
              "working] "
              "[on install|at commissioning]"),
        ("W", "rcvd [unit|item] [tested|checked] - [no power|dead|fault confirmed|fails test][, pkg ok|, no visible "
              "dmg|]", "needs:powered"),
        ("W", "[insp|inspection]: {short} [faulty|def|defective], [motor|switch|board|mechanism] [fault|failed][, sent "
              "to QA|, QA hold|]", "needs:powered"),
        ("X", "[DEFECTIVE|FAULTY|DOA|NOT WORKING][ UNIT| ITEM| ON ARRIVAL|]"),
        ("X", "[PRODUCT|ITEM] [FAILED|FAULTY] [ON FIRST USE|AT INSTALLATION|AT QC]"),
        ("X", "[MANUFACTURING DEFECT|MFG DEFECT|QUALITY DEFECT][ - {qty_short} UNITS|]"),
    ],
    "NOT_AS_DESCRIBED": [
        ("C", "not as described[.|,|!] [the listing says|the website says|description says] {attr} [but|and] "
              "[it's|it is|this is] {alt}"),
        ("C", "looks nothing like the [photos|pictures|picture on the website|product images][,|.] [much|way|a lot] "
              "[cheaper|flimsier|smaller|thinner] [than advertised|than shown|in person]"),
        ("C", "the [colour|color|finish] is [completely|totally|quite] different [from|to] the [photo|website|"
              "listing][, looks nothing like it| - not what was shown|]"),
        ("C", "[the description|the product page|the spec sheet] [says|said|claims] [it's stainless steel, it's "
              "actually painted mild steel|it's solid wood but it's chipboard|it's waterproof but it's not "
              "waterproof at all|it's heavy duty but it's flimsy|it's metal but it's plastic|it's IP65 rated, the "
              "label says IP20]"),
        ("C", "[advertised|listed] as {attr} but the [actual|real] {attr_name} is {alt}"),
        ("C", "[quality|the quality] [is|was] [nowhere near|much worse than|not] what [was|is] described[,|.] "
              "[feels|looks] [cheap|like a knock-off|second hand]"),
        ("C", "[size|dimensions|measurements] [don't|do not] match the [description|listing|spec][,|.] [it's|it is] "
              "[much|a lot|way] [smaller|bigger|shorter] than [stated|advertised]"),
        ("C", "[product|item] [is|seems to be] [refurbished|used|second hand|a different brand][, but|,] [was sold "
              "as|the listing said] [new|genuine|brand new|original]"),
        ("C", "not what [was|is] [pictured|shown|advertised][,|.] the [photo|picture] [shows|showed] [a metal|a "
              "black|a larger|a branded] [version|one]"),
        ("C", "the {short} {is} [described|advertised] as [{attr}|heavy duty|professional grade] but {it} {is} "
              "[clearly|obviously] not[, very misleading|]"),
        ("C", "the {attr_name} [isn't|is not] what [was advertised|the page says][: {attr} advertised, {alt} on "
              "the label|, the label says {alt}]"),
        ("E", "The {product} we received does not match your product page. The page lists the {attr_name} as "
              "{attr}, but the unit (and its own label) says {alt}. We bought it specifically based on that spec, "
              "so we'd like to return it."),
        ("P", "[not as described|item not as described|misleading description|not as advertised|not like the "
              "picture]"),
        ("C", "[also|it also] arrived [late|a couple of days late], but [the main problem|mainly] [it's|it is] not as "
              "described[:| -] [listed as|the page says] {attr}, [it's|actually] {alt}", "mixed:LATE_DELIVERY"),
        ("C", "[the box was a bit torn|packaging was scuffed] [too|as well][,|.] [but|and] the [real issue|main "
              "problem] is [it looks nothing like the photos|it's nothing like the description]",
              "mixed:DAMAGED_IN_TRANSIT"),
        ("C", "[it works|works fine|works perfectly|technically it works][,|.] [it's not faulty|nothing is "
              "broken|not defective], [it's just|but it's] [not what the listing described|nothing like the "
              "description|not as advertised]", "negates:DEFECTIVE"),
        ("C", "[I|we] [didn't|did not] order the wrong thing[,|;] [I|we] ordered exactly [what|the item] the "
              "[page|listing] [showed|described] [- it's just that|but] the product [doesn't match it|isn't what's "
              "shown]", "negates:ORDERED_WRONG_ITEM"),
        ("C", "the {short} [fits|is compatible|works with our setup] [ok|fine], [but|it's just that] [the finish|the "
              "material|the build quality] [is not|isn't] [as described|what the website says]",
              "negates:INCOMPATIBLE"),
        ("R", "cust says {short} not as [described|advertised] - [catalogue|website|datasheet] [says|shows] {attr}, "
              "[unit|item] is {alt}"),
        ("R", "[cust|buyer] [unhappy|complaining] [w/|with] [quality|finish|material] [vs|versus|compared to] "
              "[spec|catalogue|datasheet][, wants to return|, rtn requested|]"),
        ("R", "[spec mismatch|datasheet mismatch] on {sku}[:| -] [listed|stated] {attr}, [actual|measured] {alt}"),
        ("W", "[insp|inspection]: [item|unit] [differs|different] from [catalogue|listing|spec] "
              "[desc|description][, rtn per cust|]"),
        ("W", "rcvd [rtn|return][ - cust claims|, cust says] not as [described|advertised][ - checked vs spec| - "
              "label shows {alt}|]"),
        ("X", "[NOT AS DESCRIBED|ITEM NOT AS DESCRIBED|DOES NOT MATCH DESCRIPTION|NOT AS ADVERTISED]"),
        ("X", "[SPEC|SPECIFICATION] [MISMATCH|DOES NOT MATCH] [CATALOGUE|DATASHEET|LISTING][ - {attr_name} {alt}|]"),
        ("X", "[PRODUCT|ITEM] DIFFERS FROM [DESCRIPTION|CATALOGUE][ - QUALITY| - MATERIAL| - COLOUR|]"),
    ],
    "INCOMPATIBLE": [
        ("C", "[doesn't|does not|won't] fit {equipment}"),
        ("C", "not compatible with {equipment}[,|.] [needed|we need|I need] {alt}"),
        ("C", "the {short} {is} {attr} [but|and] we need {alt} for {equipment}"),
        ("C", "wrong {attr_name} for [our setup|our system|{equipment}][ - ours is {alt}|]"),
        ("C", "[it|the {short}] [doesn't|does not|won't] [work|connect|pair|mount] with {equipment}[, tried "
              "everything|, checked the manual|]"),
        ("C", "the {attr_name} [doesn't|does not] match [our sockets|our system|our "
              "machines|our existing parts][.|,] [ours are|we use] {alt}"),
        ("C", "[turns out|apparently] [it's|it is] [not compatible|incompatible] with [our older model|the version we "
              "run|{equipment}]"),
        ("C", "[our|the] [IT team|maintenance team|engineer|electrician] says [it won't work|it's incompatible|it "
              "can't be used] with {equipment}"),
        ("C", "[won't|doesn't] [go on|fit on|sit in|connect to] {equipment}[, different standard|]"),
        ("C", "the {short} [needs|requires] [a {alt}|a three-phase|a different] [supply|connection|adapter] [that we "
              "don't have|which our site doesn't have]", "needs:powered"),
        ("E", "We bought the {product} to use with {equipment}, but after trying it our engineer found it isn't "
              "compatible: we need {alt} and this is {attr}. Could you take it back?"),
        ("P", "[not compatible|incompatible|doesn't fit|does not fit|won't fit our machine]"),
        ("C", "[bought|ordered] as a [replacement|spare] for {equipment} but [it's|it is] [not the same|a different] "
              "[fitting|size|spec|standard]"),
        ("C", "[delivery took forever|it arrived late][,| and] [then|] [it|the {short}] [doesn't even fit|isn't even "
              "compatible with] {equipment}", "mixed:LATE_DELIVERY"),
        ("C", "[we|I] [don't really need it now|no longer need as many] [anyway|either], but [mainly|the main reason "
              "is] it [won't fit|isn't compatible with] {equipment}", "mixed:NO_LONGER_NEEDED"),
        ("C", "[box|the box|packaging] was [fine|perfect|undamaged], [it's just|it is just] the wrong {attr_name} "
              "[for|for use with] {equipment}", "negates:DAMAGED_IN_TRANSIT"),
        ("C", "[nothing wrong with|no fault with] the {short} [itself|as such][,| -] it [just|simply] "
              "[doesn't fit|isn't compatible with|won't work with] {equipment}", "negates:DEFECTIVE"),
        ("C", "[it's|it is] exactly as [described|listed|advertised][,|;] [the problem is|it's just that] we need "
              "{alt} "
              "for {equipment}", "negates:NOT_AS_DESCRIBED"),
        ("R", "cust [reports|says] {short} [not compatible|incompatible|doesn't fit] [w/|with] [their|existing] "
              "[kit|setup|equipment][, needs {alt}|]"),
        ("R", "[compat issue|compatibility issue|fitment issue] - {sku} [vs|with] [cust's|site's] [equipment|kit|"
              "system][. pls credit| - rtn for credit|]"),
        ("R", "[site|plant] [runs|uses] {alt}, [unit|item] is {attr} - [can't|cannot] [use|install][, pls collect|]"),
        ("W", "rcvd [unused|as new][,| -] [cust states|rsn:] [incompatible|not compatible|does not fit] [w/|with] "
              "[equipment|machine|system]"),
        ("W", "[rtn|return] - [fitment|compatibility] [issue|prob][, item ok|, no fault found|, resaleable]"),
        ("X", "[NOT COMPATIBLE|INCOMPATIBLE|DOES NOT FIT|FITMENT ISSUE][ WITH EQUIPMENT| WITH CUSTOMER SYSTEM|]"),
        ("X", "[WRONG|INCORRECT] [VOLTAGE|THREAD|SIZE|SPEC] FOR [APPLICATION|EQUIPMENT|SITE]"),
        ("X", "[ITEM|PART] NOT [SUITABLE|COMPATIBLE] [FOR|WITH] [APPLICATION|MACHINE|CUSTOMER EQUIPMENT]"),
    ],
    "WARRANTY_CLAIM": [
        ("C", "stopped working after {months} months[,|.] [it's|] still under warranty"),
        ("C", "warranty [claim|return][,|:] the {short} [failed|broke|died|packed up] after {months} months[ of use| "
              "of "
              "normal use|]"),
        ("C", "[bought|purchased] [it|this] {months} months ago and [now|] the [motor|switch|battery|control "
              "board|mechanism] [has failed|has gone|is dead][,|.] [should be|is] covered by [the|your] "
              "[warranty|guarantee]"),
        ("C", "[it's|it is] [still|] within the [{warranty_years}-year|2 year|3 year] [warranty|guarantee] and "
              "[it's|it "
              "has] [stopped working|failed|developed a fault]"),
        ("C", "[please|pls] [repair|replace|fix] under warranty[,|.|:] [the {short}|the unit] [has started|started] "
              "[overheating|cutting out|leaking|making a noise]"),
        ("C", "used [it|the {short}] [for|daily for] [about|] {months} months [with no problems|fine][,|.] [now|then] "
              "it [won't|doesn't] [start|turn on|hold a charge|move][,|.] [warranty claim|claiming on warranty]"),
        ("C", "guarantee claim - the {short} [wore out|broke|cracked] [after|within] [less than a year|{months} "
              "months|a year]"),
        ("C", "serial [number|no] {serial}[,|.] [failed|broken|faulty] [within|inside] the warranty [period|term][,|.] "
              "[receipt attached|proof of purchase attached|]"),
        ("C", "the [manufacturer|maker|brand] [told|said] [us|me] to [return|send] it [to you|via the seller] for a "
              "warranty [repair|replacement|claim]"),
        ("C", "had it [since|from] [last year|{month_name}|the spring], it has [developed|started showing] [a "
              "fault|an intermittent fault|problems][,|.] [I believe|I think] [it's|this is] [covered|still covered] "
              "[by the warranty|under guarantee]"),
        ("E", "We bought the {product} (serial {serial}) about {months} months ago. It has been "
              "used normally, but last week it {failure}. As it's within the warranty period, we'd like to claim a "
              "repair or replacement."),
        ("P", "[warranty claim|warranty repair|under warranty|guarantee claim|warranty return]"),
        ("C", "broke [after a few months|after {months} months|within a year][,|.] [isn't this|surely this "
              "is|this should be] covered [by warranty|under guarantee]?"),
        ("C", "[handle|trigger|switch|hinge|lock] [snapped|broke|failed] [after|with] {months} months of "
              "[normal|light|regular] use[,|.] [I'd like to|want to|need to] [make|file|raise] a warranty claim"),
        ("C", "[it's|it is] [faulty|defective] - [worked for|used for] {months} months then [failed|died] - "
              "[warranty claim|claiming under warranty]", "mixed:DEFECTIVE"),
        ("C", "[it was|it's] [advertised|sold] as [heavy duty|professional grade] [and|but] it only lasted {months} "
              "months[;|,] [claiming|please process it] under warranty", "mixed:NOT_AS_DESCRIBED"),
        ("C", "[not|this isn't] a [delivery|transit|shipping] [issue|problem] - it [worked|ran] [fine|perfectly] for "
              "{months} months and then [failed|broke down][,|.] [warranty claim|claiming under warranty]",
              "negates:DAMAGED_IN_TRANSIT"),
        ("C", "it [wasn't|was not] [faulty|DOA|defective] [when it arrived|out of the box][,|;] it [developed a "
              "fault|failed] after {months} months[ of use|] - [within|under] warranty", "negates:DEFECTIVE"),
        ("C", "[we|I] still [need|use] it[,|;] [not|this isn't] a change of mind - [please|pls] [repair|replace] "
              "[it|the "
              "{short}] under warranty", "negates:NO_LONGER_NEEDED"),
        ("R", "[warranty|wty|wrty] claim[:| -] {sku} [failed|fault] after {months} [mths|months][, s/n {serial}|]"),
        ("R", "cust [requests|wants|requesting] [warranty|guarantee] [repair|replacement] [on|for] {short}[, "
              "installed {months} months ago|, in service {months} mths|]"),
        ("R", "[in-warranty|in warranty] failure at {site}[,| -] [unit|{short}] [pls|please] [RMA|return to "
              "mfr|send for repair]"),
        ("W", "rcvd [for|under] [warranty|wty][,| -] [s/n|sn] {serial}[, signs of use| - used| - to mfr]"),
        ("W", "[warranty|wty] [rtn|return][,| -] [fault|failure] [after use|in service][, send to supplier|, QA to "
              "assess|]"),
        ("X", "[WARRANTY CLAIM|WARRANTY RETURN|IN WARRANTY FAILURE|GUARANTEE CLAIM]"),
        ("X", "[FAILED|FAILURE] IN SERVICE[ - {months} MONTHS| - UNDER WARRANTY|]"),
        ("X", "[WTY|WARRANTY] [REPAIR|REPLACEMENT] [REQUEST|REQUESTED][ - SN {serial}|]"),
    ],
    "EXPIRED_OR_SHORT_DATED": [
        ("C", "[expired|out of date][,|.|!] [best before|expiry|use by|exp] [date|] [was|is] {expiry_past}"),
        ("C", "the {short} [expire|expires|go out of date] [next month|in {shelf} weeks|in a couple of weeks][,|.] "
              "[too short|not enough shelf life|can't use them all in time]"),
        ("C", "[received|got] [stock|{short}] with [only|just] {shelf} [weeks|months] [left on {them}|of shelf "
              "life|before expiry]"),
        ("C", "[short dated|short dated stock|short shelf life][,| -] [we need|our policy requires|the site requires] "
              "[at least|minimum|min] [6|12|9] months [remaining|on arrival]"),
        ("C", "the [expiry|expiration|use-by|EXP] date [on the box|on the label|printed] [has already passed|is "
              "{expiry_past}|was last month]"),
        ("C", "arrived [already|] [expired|out of date|past {its} use-by date][,|.] [can't|cannot] use [it|them][ in "
              "the lab| on site|]"),
        ("C", "[lot|batch] {lot} [expires|has expiry] {expiry_soon}[,| -] [we ordered|ordered] [fresh stock|for use "
              "over the next year|expecting long dated stock]"),
        ("C", "[sterility|sterile] [date|expiry] [has passed|expired|is out][,|.] [we|] [can't|cannot] [use|accept] "
              "[them|it] [for|in] [clinical|lab|production] [work|use]"),
        ("C", "old stock[,|.| -] [made|manufactured] in {mfg_year}[,|.] [expiry|exp] [is|in] {expiry_soon}"),
        ("C", "[the product|it] [has|had] [less than|only] {shelf} [months|weeks] [shelf life|until expiry][,|;] "
              "[your|the] [website|listing|contract] [promises|guarantees|states] [a minimum of|at least] [12|6] "
              "months"),
        ("E", "The {product} delivered today (lot {lot}) has an expiry date of {expiry_soon}. Our QA procedure "
              "requires at least six months of remaining shelf life on receipt, so we cannot accept this batch."),
        ("P", "[expired|out of date|short dated|past expiry|expired stock]"),
        ("C", "[these|the {short}] [expire|go out of date] [before|long before] [we can|we'll be able to] use "
              "them[,|.] "
              "[only|just] {shelf} [weeks|months] [left|to go]"),
        ("C", "[you sent|sent] [me|us] [old|out of date|expired] stock[,|!|.] [check|look at] the [dates|expiry]"),
        ("C", "[arrived|came] [late|days late] [and|,] [worse|even worse], [it's|the stock is|they're] [out of date|"
              "expired|short dated]", "mixed:LATE_DELIVERY"),
        ("C", "[the|one] [box|carton] [was|got] [a bit|slightly] [crushed|damp][,|;] [but|though] [the main issue|the "
              "real problem] [is|:] the {short} [{is} expired|{is} past expiry|{is} out of date]",
              "mixed:DAMAGED_IN_TRANSIT"),
        ("C", "[packaging|the box] [was|is] [intact|undamaged|fine][,|;] [not damaged|no damage][,|;] [but|it's just "
              "that] the [expiry date|use by date] [is|was] {expiry_past}", "negates:DAMAGED_IN_TRANSIT"),
        ("C", "[it's|it is] the [right|correct] [product|item|pack size][,| -] [not a wrong item|not the wrong "
              "item][,|;] [it's|just] [out of date|expired|short dated]", "negates:WRONG_ITEM_SHIPPED"),
        ("C", "[it|they] would [work|be] [fine|OK][,| -] [nothing defective|not faulty][,|;] [but|it's just] [we "
              "can't|can't] use [expired|out-of-date|short dated] [stock|material] [under our QA rules|in the lab]",
              "negates:DEFECTIVE"),
        ("R", "cust [rejected|rejecting|refusing] [short dated|expired|s/d] [stock|batch][,| -] [exp|expiry] "
              "{expiry_soon}[, needs min 6 mths|]"),
        ("R", "[s/d|short dated|short-dated] {sku} [at|to] {site}[,| -] [lot|batch] {lot} [pls|please] [swap "
              "for|replace "
              "with] [fresh|longer dated] [stock|batch]"),
        ("R", "[expired|exp'd] [product|stock] [delivered|dlvd|shipped] to cust[,| -] [exp|expiry] {expiry_past}"),
        ("W", "rcvd [rtn|return][,| -] [lot|batch] {lot} [exp|expiry] {expiry_past}[ - expired| - out of date|][, "
              "quarantine| - dispose|]"),
        ("W", "[short dated|s/d|SD] [on receipt|at GR][,| -] [exp|expiry] {expiry_soon} [< 6 mths|under min shelf "
              "life|below min shelf life]"),
        ("X", "[EXPIRED PRODUCT|SHORT DATED|PAST EXPIRY|INSUFFICIENT SHELF LIFE]"),
        ("X", "[SHELF LIFE|REMAINING SHELF LIFE] [BELOW MINIMUM|LESS THAN {shelf} MONTHS|INSUFFICIENT]"),
        ("X", "[LOT|BATCH] {lot} [EXPIRED|EXP {expiry_past}|OUT OF DATE]"),
    ],
}
