"""The four-phase B2B contract (『捌』, CISG Art. 14–23 and 39) against a hand-written oracle."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import ClassVar

import attrs
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from ecomflow import FLOWS, GuardRejected, Money, Stream, TransitionNotAllowed
from ecomflow.flows.b2b import FLOW
from ecomflow.flows.b2b.terms import (
    CLAIM_FILED,
    GOODS_RECEIVED,
    HANDED_TO_CARRIER,
    OFFER_REJECTED_BY_COUNTER_OFFER,
    PAYMENT_MADE,
)
from ecomflow.projections import Ledger, fold
from ecomflow.testing import books_by_party
from ecomflow.vocabulary import CLAIM_PAID, CONTRACT_CONCLUDED
from tests.oracle import OracleMachine
from tests.strategies import names

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
PARTIES = ("buyer", "seller")
GOODS = "cotton lint"

# The phases and their triggers, by hand from 『捌』 (guards are in `refused`).
PHASE_TRIGGERS = {
    "preparation.researching": {"prepare", "break_off"},
    "preparation.ready": {"prepare", "inquire", "offer", "break_off"},
    "negotiation.open": {"inquire", "offer", "break_off"},
    "negotiation.offer_sent": {"withdraw", "arrive", "break_off"},
    "negotiation.offer_standing": {
        "revoke",
        "reject",
        "counter_offer",
        "accept",
        "accept_late",
        "break_off",
        "lapse",  # timed: at the offer's validity, once
    },
    "negotiation.late_acceptance": {
        "confirm_late_acceptance",
        "refuse_late_acceptance",
        "break_off",
    },
    "contract.drafting": {"draw_up"},
    "contract.awaiting_signatures": {"sign"},
    "contract.signed_by_one": {"sign"},
    "contract.signed": {"complete_formalities"},
    "performed": {"close", "file_claim", "end_claim_period"},  # the last one timed
    "claims.filed": {"survey"},
    "claims.surveyed": {"settle_claim", "reject_claim"},
    "claims.disputed": {"resolve_dispute"},
    "closed": set(),
    "no_deal": set(),
    "avoided": set(),
}
CLAIM_STEPS = {  # the claim region during performance: state -> {trigger: next state}
    "none": {"file_claim": "filed"},
    "filed": {"survey": "surveyed"},
    "surveyed": {"settle_claim": "decided", "reject_claim": "disputed"},
    "disputed": {"resolve_dispute": "decided"},
    "decided": {},
}
GOODS_STEPS = {  # logistics region: state -> (trigger, next state)
    "stocking": ("stock_goods", "stocked"),
    "stocked": ("declare_customs", "customs_cleared"),
    "customs_cleared": ("insure", "insured"),
    "insured": ("obtain_certificates", "certified"),
    "certified": ("hand_to_carrier", "in_transit"),
    "in_transit": ("receive", "received"),
}
PAY_STEPS = {"awaiting": ("pay", "paid"), "paid": ("issue_bank_documents", "documented")}
NEXT_PHASE = {
    ("preparation.researching", "prepare"): "preparation.ready",
    ("preparation.ready", "prepare"): "preparation.ready",  # the other side prepares too
    ("preparation.ready", "inquire"): "negotiation.open",
    ("negotiation.open", "inquire"): "negotiation.open",
    ("preparation.ready", "offer"): "negotiation.offer_sent",
    ("negotiation.open", "offer"): "negotiation.offer_sent",
    ("negotiation.offer_sent", "withdraw"): "negotiation.open",
    ("negotiation.offer_sent", "arrive"): "negotiation.offer_standing",
    ("negotiation.offer_standing", "revoke"): "negotiation.open",
    ("negotiation.offer_standing", "reject"): "negotiation.open",
    ("negotiation.offer_standing", "counter_offer"): "negotiation.offer_sent",
    ("negotiation.offer_standing", "accept"): "contract.drafting",
    ("negotiation.offer_standing", "accept_late"): "negotiation.late_acceptance",
    ("negotiation.late_acceptance", "confirm_late_acceptance"): "contract.drafting",
    ("negotiation.late_acceptance", "refuse_late_acceptance"): "negotiation.open",
    ("contract.drafting", "draw_up"): "contract.awaiting_signatures",
    ("contract.awaiting_signatures", "sign"): "contract.signed_by_one",
    ("contract.signed_by_one", "sign"): "contract.signed",
    ("contract.signed", "complete_formalities"): "performance",
    ("performed", "close"): "closed",
    ("performed", "end_claim_period"): "closed",
    ("negotiation.offer_standing", "lapse"): "negotiation.offer_standing",
    ("performed", "file_claim"): "claims.filed",
    ("claims.filed", "survey"): "claims.surveyed",
    ("claims.surveyed", "settle_claim"): "closed",
    ("claims.surveyed", "reject_claim"): "claims.disputed",
    ("claims.disputed", "resolve_dispute"): "closed",
}


# Who must act (『捌』: both sign, the buyer receives and pays, the one harmed claims; CISG 18:
# the offeree accepts), by the party's name in the trade or its role.
NAMES = {"buyer": "mill", "seller": "coop"}
ACTS = {"accept", "accept_late", "sign", "receive", "pay", "file_claim"}
ACTING = ("name", "name", "role", "none", "other", "stranger")


def other(party):
    return "seller" if party == "buyer" else "buyer"


class B2BMachine(OracleMachine):
    FLOW = FLOW
    TERMINAL = frozenset({"closed", "no_deal", "avoided"})
    SAMPLE_PAYLOADS: ClassVar[dict] = {
        "prepare": {"by": "buyer", "note": "n"},
        "inquire": {"by": "buyer", "goods": GOODS},
        "offer": {"by": "seller", "goods": GOODS, "quantity": 1, "price": Money("1", "CNY")},
        "arrive": {},
        "withdraw": {"by": "seller"},
        "revoke": {"by": "seller"},
        "reject": {"by": "buyer"},
        "counter_offer": {"by": "buyer", "goods": GOODS, "quantity": 1, "price": Money("1", "CNY")},
        "accept": {"by": "buyer", "goods": GOODS, "quantity": 1, "price": Money("1", "CNY")},
        "accept_late": {"by": "buyer", "goods": GOODS, "quantity": 1, "price": Money("1", "CNY")},
        "confirm_late_acceptance": {"by": "seller"},
        "refuse_late_acceptance": {"by": "seller"},
        "break_off": {"by": "buyer", "reason": "r"},
        "sign": {"by": "buyer"},
        "complete_formalities": {"reference": "r"},
        "stock_goods": {"reference": "r"},
        "declare_customs": {"reference": "r"},
        "insure": {"reference": "r"},
        "obtain_certificates": {"reference": "r"},
        "hand_to_carrier": {"carrier": "c", "bill_of_lading": "b"},
        "track": {"reference": "r"},
        "receive": {"by": "buyer"},
        "pay": {"bank": "b", "amount": Money("1", "CNY"), "reference": "r"},
        "issue_bank_documents": {"reference": "r"},
        "complete": {},
        "avoid": {"by": "buyer", "reason": "r"},
        "file_claim": {"by": "buyer", "reason": "r", "amount": Money("1", "CNY"), "evidence": "e"},
        "close": {},
        "lapse": {},
        "end_claim_period": {},
        "survey": {"surveyor": "s", "findings": "f"},
        "settle_claim": {"payout": Money("1", "CNY")},
        "reject_claim": {"reference": "r"},
        "resolve_dispute": {"basis": "law", "decision": "d"},
    }

    # -- the oracle's own model of the trade ------------------------------------------------

    def start(self):
        self.now = T0
        self.phase = "preparation.researching"
        self.goods = "stocking"
        self.pay_step = "awaiting"
        self.offer = None  # (by, quantity, price, valid_until, firm)
        self.lapsed_offer = None  # the offer whose lapse the clock recorded
        self.agreed = None
        self.terms = None  # (quantity, price, payment_terms)
        self.signed = set()
        self.handed_over = False
        self.received_at = None
        self.paid = False
        self.claim = None
        self.claim_step = "none"
        self.claimant = None
        self.payout = None
        self.avoided = False
        self.concluded = 0
        self.state = "preparation.researching"
        return FLOW.start("B-1", buyer="mill", seller="coop", clock=lambda: self.now)

    def configuration(self):
        if self.phase != "performance":
            return self.phase
        return (
            f"performance.logistics.{self.goods}|performance.payment.{self.pay_step}"
            f"|performance.claim.{self.claim_step}"
        )

    def allowed_here(self):
        if self.phase != "performance":
            return set(PHASE_TRIGGERS[self.phase])
        allowed = {"avoid", *CLAIM_STEPS[self.claim_step]}
        if self.claim_step in ("none", "decided"):
            allowed.add("complete")
        if self.goods in GOODS_STEPS:
            allowed.add(GOODS_STEPS[self.goods][0])
        if self.goods == "in_transit":
            allowed.add("track")
        if self.pay_step in PAY_STEPS:
            allowed.add(PAY_STEPS[self.pay_step][0])
        return allowed

    def legal(self, trigger):
        return trigger in self.allowed_here()

    def value(self):
        quantity, price, _ = self.terms
        return price * quantity

    def guard_failure(self, trigger, p):
        return self.guards_refuse(trigger, p) or self.actor_refused(trigger, p)

    def actor_refused(self, trigger, p):
        """Whether the actor is missing or wrong for an act the seed names a party for."""
        if trigger not in ACTS:
            return False
        actor = p.get("actor")
        if trigger in ("accept", "accept_late"):
            party = other(self.offer[0])  # the offeree, whoever ``by`` claims to be
        elif trigger == "pay":
            party = "buyer"
            if actor is not None and actor == p["bank"]:  # the buyer's bank pays for it
                return False
        else:
            party = p["by"]
        return actor not in (party, NAMES[party])

    @staticmethod
    def acting(party, how):
        """The ``actor`` argument for ``party``'s act: by name or role, none, or a wrong one."""
        return {
            "name": {"actor": NAMES[party]},
            "role": {"actor": party},
            "none": {},
            "other": {"actor": NAMES[other(party)]},
            "stranger": {"actor": "broker"},
        }[how]

    def attempt(self, trigger, payload, valid=True):
        """As the oracle's, and a refusal for the actor alone names only the actor."""
        actor_only = (
            self.legal(trigger)
            and valid
            and self.actor_refused(trigger, payload)
            and not self.guards_refuse(trigger, payload)
        )
        if not actor_only:
            return super().attempt(trigger, payload, valid)
        before = (self.tx.state, self.tx.version, self.tx.events, self.tx.context)
        with pytest.raises(GuardRejected) as caught:
            self.tx.fire(trigger, **payload)
        assert [name for name, _ in caught.value.reasons] == ["actor"], caught.value
        assert (self.tx.state, self.tx.version, self.tx.events, self.tx.context) == before
        return None

    def guards_refuse(self, trigger, p):
        offer = self.offer
        if trigger in ("lapse", "end_claim_period"):  # deadlines: refused until due
            return not self.possible_now(trigger)
        if trigger in ("offer", "counter_offer"):
            if trigger == "counter_offer" and p["by"] != other(offer[0]):
                return True
            return p.get("valid_until") is not None and p["valid_until"] <= self.now
        if trigger in ("withdraw", "revoke", "confirm_late_acceptance", "refuse_late_acceptance"):
            return p["by"] != offer[0] or (trigger == "revoke" and offer[4])
        if trigger == "reject":
            return p["by"] != other(offer[0])
        if trigger in ("accept", "accept_late"):
            lapsed = offer[3] is not None and self.now > offer[3]
            mismatch = (p["goods"], p["quantity"], p["price"]) != (GOODS, offer[1], offer[2])
            return p["by"] != other(offer[0]) or mismatch or lapsed != (trigger == "accept_late")
        if trigger == "draw_up":
            early = p["delivery_date"] < self.concluded_on
            return early or (p["goods"], p["quantity"], p["price"]) != (GOODS, *self.agreed)
        if trigger == "receive":
            return p["by"] != "buyer"
        if trigger == "sign":
            return p["by"] in self.signed
        if trigger == "hand_to_carrier":
            return self.terms[2] == "prepayment" and not self.paid
        if trigger == "pay":
            terms = self.terms[2]
            early = (terms == "against_documents" and not self.handed_over) or (
                terms == "on_delivery" and self.received_at is None
            )
            return early or p["amount"] != self.value()
        if trigger == "complete":
            return self.goods != "received" or self.pay_step != "documented"
        if trigger == "avoid":
            return self.claim_step != "decided"
        if trigger == "file_claim":
            late = self.received_at is not None and self.now > self.received_at + timedelta(
                days=730
            )
            if p["amount"].currency != "CNY":
                return True
            return late or p["amount"] > self.value() or p["amount"].amount <= 0
        if trigger in ("settle_claim", "resolve_dispute"):
            return p.get("payout") is not None and p["payout"] > self.claim
        return False

    def apply(self, trigger, p):
        if trigger in ("offer", "counter_offer"):
            self.offer = (
                p["by"],
                p["quantity"],
                p["price"],
                p.get("valid_until"),
                p.get("firm", False),
            )
        elif trigger in ("withdraw", "revoke", "reject", "refuse_late_acceptance"):
            self.offer = None
        elif trigger in ("accept", "confirm_late_acceptance"):
            self.agreed = self.offer[1:3]
            self.concluded += 1
            self.concluded_on = self.now.date()
        elif trigger == "draw_up":
            self.terms = (p["quantity"], p["price"], p["payment_terms"])
        elif trigger == "sign":
            self.signed.add(p["by"])
        elif trigger == "hand_to_carrier":
            self.handed_over = True
        elif trigger == "receive":
            self.received_at = self.now
        elif trigger == "pay":
            self.paid = True
        elif trigger == "file_claim":
            self.claim = p["amount"]
            self.claimant = p["by"]
        elif trigger in ("settle_claim", "resolve_dispute"):
            self.payout = p.get("payout")
        elif trigger == "avoid":
            self.avoided = True
        elif trigger == "lapse":
            self.lapsed_offer = self.offer

    def advance(self, trigger):
        if self.phase == "performance":
            if trigger == "complete":
                self.phase = "performed" if self.claim_step == "none" else "closed"
            elif trigger == "avoid":
                self.phase = "avoided"
            elif trigger in CLAIM_STEPS[self.claim_step]:
                self.claim_step = CLAIM_STEPS[self.claim_step][trigger]
            elif trigger in ("track",):
                pass
            elif self.goods in GOODS_STEPS and GOODS_STEPS[self.goods][0] == trigger:
                self.goods = GOODS_STEPS[self.goods][1]
            else:
                self.pay_step = PAY_STEPS[self.pay_step][1]
        elif trigger == "break_off":
            self.phase = "no_deal"
        else:
            self.phase = NEXT_PHASE[(self.phase, trigger)]
        self.state = self.configuration()

    # -- a deep start, then the rules -------------------------------------------------------

    @initialize(
        depth=st.sampled_from(range(20)),
        terms=st.sampled_from(["prepayment", "against_documents", "on_delivery"]),
    )
    def walk_part_of_the_happy_path(self, depth, terms):
        price = Money("15500", "CNY")
        deal = {"goods": GOODS, "quantity": 200, "price": price}
        pay = ("pay", {"bank": "ICBC", "amount": price * 200, "reference": "P", "actor": "mill"})
        goods = [
            ("obtain_certificates", {"reference": "c"}),
            ("hand_to_carrier", {"carrier": "rail", "bill_of_lading": "BL"}),
            ("track", {"reference": "Lanzhou"}),
            ("receive", {"by": "buyer", "actor": "mill"}),
        ]
        where = {"prepayment": 0, "against_documents": 2, "on_delivery": 4}[terms]
        path = [
            ("prepare", {"by": "buyer", "note": "research"}),
            ("offer", {"by": "seller", **deal, "valid_until": T0 + timedelta(days=3)}),
            ("arrive", {}),
            ("accept", {"by": "buyer", **deal, "actor": "mill"}),
            ("draw_up", self.contract_terms(200, price, terms)),
            ("sign", {"by": "buyer", "actor": "buyer"}),
            ("sign", {"by": "seller", "actor": "coop"}),
            ("complete_formalities", {"reference": "licence"}),
            ("stock_goods", {"reference": "w"}),
            ("declare_customs", {"reference": "d"}),
            ("insure", {"reference": "i"}),
            *goods[:where],
            pay,
            *goods[where:],
            ("issue_bank_documents", {"reference": "docs"}),
            ("complete", {}),
        ]
        for trigger, payload in path[:depth]:
            assert self.attempt(trigger, payload) is not None

    @staticmethod
    def contract_terms(quantity, price, terms):
        return {
            "rights_and_obligations": "r",
            "goods": GOODS,
            "quantity": quantity,
            "price": price,
            "delivery_place": "Suzhou",
            "delivery_date": date(2027, 1, 15),
            "trade_method": "CIF",
            "transport_method": "rail",
            "payment_terms": terms,
            "breach_and_claims": "c",
        }

    @rule(days=st.sampled_from([0, 1, 2, 4, 400, 800]))
    def time_passes(self, days):
        self.now += timedelta(days=days, hours=1)

    @rule()
    def the_clock_fires_what_is_due(self):
        """A deadline (the offer's lapse, the claim period's end) fires once due, not before."""
        for trigger in ("lapse", "end_claim_period"):
            if self.legal(trigger):
                self.attempt(trigger, {})

    @precondition(lambda self: self.legal("prepare"))
    @rule(by=st.sampled_from(PARTIES), note=names)
    def prepare(self, by, note):
        self.attempt("prepare", {"by": "broker", "note": note}, valid=False)
        self.attempt("prepare", {"by": by, "note": note})

    @precondition(lambda self: self.legal("inquire"))
    @rule(by=st.sampled_from(PARTIES))
    def inquire(self, by):
        self.attempt("inquire", {"by": by, "goods": GOODS})

    @precondition(lambda self: self.legal("offer") or self.legal("counter_offer"))
    @rule(
        by=st.sampled_from(PARTIES),
        quantity=st.integers(1, 300),
        price=st.sampled_from(
            [Money("15000", "CNY"), Money("15500", "CNY"), Money("15800", "CNY")]
        ),
        validity=st.sampled_from([1, 3, None, -1]),
        firm=st.booleans(),
    )
    def make_offer(self, by, quantity, price, validity, firm):
        trigger = "offer" if self.legal("offer") else "counter_offer"
        until = None if validity is None else self.now + timedelta(days=validity)
        offer = {
            "by": by,
            "goods": GOODS,
            "quantity": quantity,
            "price": price,
            "valid_until": until,
            "firm": firm,
        }
        self.attempt(trigger, {**offer, "quantity": 0}, valid=False)  # not definite
        self.attempt(
            trigger,
            {**offer, "valid_until": until.replace(tzinfo=None)}
            if until
            else {**offer, "firm": "yes"},
            valid=False,
        )
        self.attempt(trigger, offer)

    @precondition(lambda self: self.legal("arrive"))
    @rule(withdraw=st.sampled_from([False, False, False, True]))
    def arrive_or_withdraw(self, withdraw):
        self.attempt("withdraw", {"by": other(self.offer[0])})  # only the offeror may
        if withdraw:
            self.attempt("withdraw", {"by": self.offer[0]})
        else:
            self.attempt("arrive", {})

    @precondition(lambda self: self.legal("accept"))
    @rule(
        late=st.sampled_from([True, False]),
        change=st.booleans(),
        wrong_party=st.booleans(),
        how=st.sampled_from(ACTING),
    )
    def accept(self, late, change, wrong_party, how):
        offeror, quantity, price, until, _ = self.offer
        right = self.acting(other(offeror), "name")
        if late and until is not None and self.now <= until:
            self.attempt(
                "accept_late",
                {"by": other(offeror), "goods": GOODS, "quantity": quantity, "price": price}
                | right,
            )  # still valid
            self.now = until + timedelta(hours=1)  # let the offer lapse
        acceptance = {"by": other(offeror), "goods": GOODS, "quantity": quantity, "price": price}
        trigger = "accept_late" if late else "accept"
        if wrong_party:  # the offeror names itself as the acceptor, by name or role
            self.attempt("accept", {**acceptance, "by": offeror, **self.acting(offeror, how)})
        if change:
            self.attempt("accept", {**acceptance, "quantity": quantity + 1, **right})
        self.attempt(trigger, {**acceptance, **self.acting(other(offeror), how)})
        self.attempt(trigger, {**acceptance, **right})

    @precondition(lambda self: self.legal("revoke"))
    @rule(act=st.sampled_from(["revoke", "reject"]))
    def revoke_or_reject(self, act):
        offeror = self.offer[0]
        right, wrong = (offeror, other(offeror)) if act == "revoke" else (other(offeror), offeror)
        self.attempt(act, {"by": wrong})
        self.attempt(act, {"by": right})

    @precondition(lambda self: self.legal("confirm_late_acceptance"))
    @rule(confirm=st.sampled_from([True, False]))
    def answer_late_acceptance(self, confirm):
        trigger = "confirm_late_acceptance" if confirm else "refuse_late_acceptance"
        self.attempt(trigger, {"by": other(self.offer[0])})  # only the offeror may answer
        self.attempt(trigger, {"by": self.offer[0]})

    @precondition(lambda self: self.legal("break_off"))
    @rule(go=st.sampled_from([False] * 5 + [True]))
    def break_off(self, go):
        self.attempt("break_off", {"by": "buyer", "reason": ""}, valid=False)
        if go:
            self.attempt("break_off", {"by": "seller", "reason": "no agreement"})

    @precondition(lambda self: self.legal("draw_up"))
    @rule(
        terms=st.sampled_from(["prepayment", "against_documents", "on_delivery"]),
        days=st.sampled_from([-1, 0, 0, 60]),
    )
    def draw_up(self, terms, days):
        quantity, price = self.agreed
        when = {"delivery_date": self.concluded_on + timedelta(days=days)}
        self.attempt("draw_up", {**self.contract_terms(quantity + 1, price, terms), **when})
        self.attempt(
            "draw_up",
            {**self.contract_terms(quantity, price, terms), "delivery_date": "soon"},
            valid=False,
        )
        self.attempt("draw_up", {**self.contract_terms(quantity, price, terms), **when})

    @precondition(lambda self: self.legal("sign"))
    @rule(by=st.sampled_from(PARTIES), how=st.sampled_from(ACTING))
    def sign(self, by, how):
        if self.signed:
            signed = next(iter(self.signed))
            self.attempt("sign", {"by": signed, **self.acting(signed, "role")})
        self.attempt("sign", {"by": by, **self.acting(by, how)})
        self.attempt("sign", {"by": by, **self.acting(by, "name")})

    @precondition(lambda self: self.legal("complete_formalities"))
    @rule()
    def complete_formalities(self):
        self.attempt("complete_formalities", {"reference": ""}, valid=False)
        self.attempt("complete_formalities", {"reference": "export licence"})

    @precondition(lambda self: self.phase == "performance" and self.goods in GOODS_STEPS)
    @rule(by=st.sampled_from(PARTIES), how=st.sampled_from(ACTING))
    def next_goods_step(self, by, how):
        trigger = GOODS_STEPS[self.goods][0]
        if trigger == "hand_to_carrier":
            payload = {"carrier": "rail", "bill_of_lading": "BL"}
        elif trigger == "receive":
            self.attempt("track", {"reference": "Lanzhou"})
            self.attempt(trigger, {"by": by, **self.acting(by, how)})
            payload = {"by": by, **self.acting(by, "name")}
        else:
            payload = {"reference": trigger}
        self.attempt(trigger, payload)

    @precondition(lambda self: self.legal("pay"))
    @rule(off=st.sampled_from([0, 0, 1]), how=st.sampled_from((*ACTING, "bank")))
    def pay(self, off, how):
        amount = self.value() + Money(off, "CNY")
        payment = {"bank": "ICBC", "amount": amount, "reference": "P"}
        self.attempt(
            "pay", {**payment, "amount": float(amount.amount), "actor": "mill"}, valid=False
        )
        actor = {"actor": "ICBC"} if how == "bank" else self.acting("buyer", how)
        self.attempt("pay", {**payment, **actor})
        self.attempt("pay", {**payment, "actor": "ICBC"})

    @precondition(lambda self: self.legal("issue_bank_documents"))
    @rule()
    def issue_bank_documents(self):
        self.attempt("issue_bank_documents", {"reference": "L/C documents"})

    @precondition(lambda self: self.legal("complete"))
    @rule()
    def complete(self):
        self.attempt("complete", {})

    @precondition(lambda self: self.legal("file_claim"))
    @rule(
        share=st.sampled_from(["small", "all", "more", "usd"]),
        go=st.sampled_from([False] * 3 + [True]),
        by=st.sampled_from(PARTIES),
        how=st.sampled_from(ACTING),
    )
    def file_claim(self, share, go, by, how):
        value = self.value()
        amount = {
            "small": Money("500", "CNY"),
            "all": value,
            "more": value + Money("1", "CNY"),
            "usd": Money("500", "USD"),
        }[share]
        claim = {"by": by, "reason": "wet bales", "amount": amount, "evidence": "photos"}
        self.attempt("file_claim", {**claim, "evidence": "", "actor": by}, valid=False)
        if go or self.phase == "performed":
            self.attempt("file_claim", {**claim, **self.acting(by, how)})
            self.attempt("file_claim", {**claim, **self.acting(by, "name")})

    @precondition(lambda self: self.legal("avoid"))
    @rule(by=st.sampled_from(PARTIES), go=st.sampled_from([False] * 3 + [True]))
    def avoid(self, by, go):
        self.attempt("avoid", {"by": by, "reason": ""}, valid=False)
        if go or self.claim_step == "decided":
            self.attempt("avoid", {"by": by, "reason": "fundamental breach"})

    @precondition(lambda self: self.legal("close"))
    @rule()
    def close(self):
        self.attempt("close", {})

    @precondition(lambda self: self.legal("survey"))
    @rule()
    def survey(self):
        self.attempt("survey", {"surveyor": "CCIC", "findings": "12 wet bales"})

    @precondition(lambda self: self.legal("settle_claim"))
    @rule(settle=st.booleans(), over=st.booleans())
    def settle_or_reject(self, settle, over):
        payout = self.claim + Money("1", "CNY") if over else self.claim
        if settle:
            self.attempt("settle_claim", {"payout": payout})
        else:
            self.attempt("reject_claim", {"reference": "no evidence of transit damage"})

    @precondition(lambda self: self.legal("resolve_dispute"))
    @rule(
        basis=st.sampled_from(["contract", "law", "practice"]),
        payout=st.sampled_from([None, "half", "over"]),
    )
    def resolve_dispute(self, basis, payout):
        amount = {None: None, "half": Money("1", "CNY"), "over": self.claim + Money("1", "CNY")}[
            payout
        ]
        self.attempt(
            "resolve_dispute", {"basis": basis, "decision": "arbitration award", "payout": amount}
        )

    # -- invariants of 『捌』 and the CISG -----------------------------------------------------

    @invariant()
    def the_contract_is_concluded_at_most_once(self):
        concluded = [e for e in self.tx.events if e.name == CONTRACT_CONCLUDED.name]
        assert len(concluded) == self.concluded <= 1

    @invariant()
    def a_counter_offer_ends_the_standing_offer(self):
        if self.offer is not None:
            standing = self.tx.context.offer
            assert standing is not None and standing.by.value == self.offer[0]
            assert (standing.quantity, standing.price) == self.offer[1:3]

    @invariant()
    def payment_follows_the_contract_terms(self):
        order = [e.name for e in self.tx.events]
        if PAYMENT_MADE.name not in order or self.terms is None:
            return
        paid_at = order.index(PAYMENT_MADE.name)
        if self.terms[2] == "against_documents":
            assert HANDED_TO_CARRIER.name in order[:paid_at]
        elif self.terms[2] == "on_delivery":
            assert GOODS_RECEIVED.name in order[:paid_at]
        elif HANDED_TO_CARRIER.name in order:
            assert order.index(HANDED_TO_CARRIER.name) > paid_at

    def possible_now(self, trigger):
        """Whether some valid payload gets ``trigger`` through now (the oracle's view)."""
        if trigger == "lapse":  # due at the validity's end, once per offer
            until = self.offer[3]
            return until is not None and self.now >= until and self.lapsed_offer != self.offer
        if trigger == "end_claim_period":  # due two years after receipt
            received = self.received_at
            return received is not None and self.now >= received + timedelta(days=730)
        if trigger in ("accept", "accept_late"):
            until = self.offer[3]
            lapsed = until is not None and self.now > until
            return lapsed == (trigger == "accept_late")
        if trigger == "revoke":
            return not self.offer[4]
        if trigger == "file_claim":
            return self.received_at is None or self.now <= self.received_at + timedelta(days=730)
        if trigger == "avoid":
            return self.claim_step == "decided"
        if trigger in ("hand_to_carrier", "pay", "complete"):
            return not self.guards_refuse(
                trigger, {"amount": self.value()} if trigger == "pay" else {}
            )
        return True

    @invariant()
    def allowed_triggers_tells_the_truth(self):
        """Exactly the triggers some valid payload can fire now (issue 10, point 4)."""
        expected = {t for t in self.allowed_here() if self.possible_now(t)}
        assert set(self.tx.allowed_triggers()) == expected

    @invariant()
    def the_books_are_what_the_oracle_and_the_flow_say(self):
        """Per party, after every step: the oracle's own books, the flow's, its rules."""
        if self.terms is None:
            expected = {}
        else:
            expected = {"mill": Decimal(0), "coop": Decimal(0)}
            value = self.value().amount
            if self.paid and not self.avoided:
                expected["mill"] -= value
                expected["coop"] += value
            if self.payout is not None:
                claimant, payer = ("mill", "coop") if self.claimant == "buyer" else ("coop", "mill")
                expected[claimant] += self.payout.amount
                expected[payer] -= self.payout.amount
        ledger = fold(Ledger(), self.tx.events)
        assert ledger.balances() == {
            (account, "CNY"): amount for account, amount in expected.items() if amount
        }
        books_by_party(self.tx)
        for check in FLOW.definition.invariants:
            check(self.tx)

    @invariant()
    def claim_payouts_never_exceed_the_claim(self):
        for event in self.tx.events:
            if event.name == CLAIM_PAID.name:
                assert Money(event.data["amount"]["amount"], "CNY") <= self.claim


TestB2BMachine = B2BMachine.TestCase


# -- examples -----------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


def negotiate(tx, clock, **offer):
    deal = {"goods": GOODS, "quantity": 200, "price": Money("15800", "CNY")}
    tx.fire("prepare", by="buyer", note="research")
    tx.offer(by="seller", **{**deal, **offer})
    tx.fire("arrive")
    return deal


def test_registered_with_its_seed_section():
    assert FLOWS["b2b"] is FLOW and FLOW.source == "『捌』"
    assert "negotiation.offer_standing" in FLOW.states and FLOW.engine.nested


def test_counter_offers_swap_roles_and_only_the_offeree_accepts():
    clock = Clock()
    tx = FLOW.start("B-2", buyer="mill", seller="coop", clock=clock)
    deal = negotiate(tx, clock)
    with pytest.raises(GuardRejected, match=r"only the offeree \(buyer\) can do this"):
        tx.accept(by="seller", **deal, actor="coop")
    events = tx.counter_offer(by="buyer", goods=GOODS, quantity=200, price=Money("15500", "CNY"))
    assert [e.name for e in events] == ["counter_offer_made", "offer_rejected_by_counter_offer"]
    assert events[1].data["price"] == {"amount": "15800.00", "currency": "CNY"}
    tx.fire("arrive")
    with pytest.raises(
        GuardRejected, match="an acceptance that changes the terms is a counter-offer"
    ):
        tx.accept(by="seller", **deal, actor="coop")  # the old terms no longer stand
    tx.accept(by="seller", goods=GOODS, quantity=200, price=Money("15500", "CNY"), actor="coop")
    assert tx.state == "contract.drafting"
    assert tx.context.agreed.price == Money("15500", "CNY")


def test_a_firm_offer_cannot_be_revoked_but_can_be_rejected():
    tx = FLOW.start("B-3", buyer="mill", seller="coop", clock=Clock())
    negotiate(tx, None, firm=True)
    with pytest.raises(GuardRejected, match="a firm offer cannot be revoked"):
        tx.fire("revoke", by="seller")
    tx.fire("reject", by="buyer")
    assert tx.state == "negotiation.open"


def test_an_offer_can_be_withdrawn_only_before_it_arrives():
    tx = FLOW.start("B-4", buyer="mill", seller="coop", clock=Clock())
    tx.fire("prepare", by="buyer", note="n")
    tx.offer(by="seller", goods=GOODS, quantity=1, price=Money("1", "CNY"), firm=True)
    tx.fire("withdraw", by="seller")  # even a firm offer, before it arrives (CISG 15(2))
    tx.offer(by="seller", goods=GOODS, quantity=1, price=Money("1", "CNY"))
    tx.fire("arrive")
    with pytest.raises(
        TransitionNotAllowed, match="the offer has reached the offeree; revoke it instead"
    ):
        tx.fire("withdraw", by="seller")


def test_a_late_acceptance_counts_only_if_the_offeror_confirms():
    clock = Clock()
    tx = FLOW.start("B-5", buyer="mill", seller="coop", clock=clock)
    deal = negotiate(tx, clock, valid_until=T0 + timedelta(days=3))
    clock.now = T0 + timedelta(days=4)
    with pytest.raises(GuardRejected, match="the offer lapsed at 2026-11-27T09:00:00"):
        tx.accept(by="buyer", **deal, actor="mill")
    tx.fire("accept_late", by="buyer", actor="mill", **deal)
    with pytest.raises(GuardRejected, match=r"only the offeror \(seller\)"):
        tx.fire("confirm_late_acceptance", by="buyer")
    concluded = tx.fire("confirm_late_acceptance", by="seller")
    assert concluded[1].name == "contract_concluded"
    assert concluded[1].data["concluded_at"] == clock.now.isoformat()
    assert FLOW.replay(tx.events) == tx


def test_claims_must_come_within_two_years_of_handover():
    clock = Clock()
    tx = FLOW.start("B-6", buyer="mill", seller="coop", clock=clock)
    deal = negotiate(tx, clock)
    tx.accept(by="buyer", **deal, actor="mill")
    tx.fire("draw_up", **B2BMachine.contract_terms(200, Money("15800", "CNY"), "on_delivery"))
    tx.fire("sign", by="seller", actor="coop")
    tx.fire("sign", by="buyer", actor="mill")
    tx.fire("complete_formalities", reference="licence")
    for trigger in ("stock_goods", "declare_customs", "insure", "obtain_certificates"):
        tx.fire(trigger, reference=trigger)
    with pytest.raises(GuardRejected, match="payment is on delivery"):
        tx.fire("pay", actor="mill", bank="ICBC", amount=Money("3160000", "CNY"), reference="P")
    tx.fire("hand_to_carrier", carrier="rail", bill_of_lading="BL")
    tx.fire("receive", by="buyer", actor="mill")
    tx.fire("pay", actor="mill", bank="ICBC", amount=Money("3160000", "CNY"), reference="P")
    tx.fire("issue_bank_documents", reference="docs")
    tx.fire("complete")
    clock.now += timedelta(days=731)
    with pytest.raises(GuardRejected, match="the notice period ended two years after"):
        tx.fire(
            "file_claim",
            actor="mill",
            by="buyer",
            reason="r",
            amount=Money("10", "CNY"),
            evidence="e",
        )
    tx.fire("close")
    assert tx.state == "closed" and {e.stream for e in tx.events} == set(Stream)
    assert FLOW.replay(tx.events) == tx


def test_the_typed_methods_drive_a_whole_trade():
    from ecomflow.flows.b2b import Basis, ContractTerms

    clock = Clock()
    tx = FLOW.start("B-8", buyer="mill", seller="coop", clock=clock)
    deal = negotiate(tx, clock)
    tx.accept(by="buyer", **deal, actor="mill")
    terms = ContractTerms(**B2BMachine.contract_terms(200, Money("15800", "CNY"), "prepayment"))
    tx.draw_up(terms=terms)
    tx.sign(by="buyer", actor="mill")
    tx.sign(by="seller", note="signed with a digital certificate", actor="coop")
    tx.fire("complete_formalities", reference="licence")
    assert not tx.is_finished and tx.in_state("performance")  # regions: a list inside
    tx.pay(bank="ICBC", amount=terms.value, reference="prepaid", actor="ICBC")
    for trigger in ("stock_goods", "declare_customs", "insure", "obtain_certificates"):
        tx.fire(trigger, reference=trigger)
    tx.fire("hand_to_carrier", carrier="rail", bill_of_lading="BL")
    tx.receive(by="buyer", actor="mill")
    tx.fire("issue_bank_documents", reference="docs")
    tx.fire("complete")
    tx.file_claim(
        by="buyer",
        actor="mill",
        reason="short delivery",
        amount=Money("20000", "CNY"),
        evidence="tally",
    )
    tx.fire("survey", surveyor="CCIC", findings="3 bales short")
    tx.fire("reject_claim", reference="tally sheet signed on receipt")
    with pytest.raises(GuardRejected, match="exceeds the claim"):
        tx.resolve_dispute(basis=Basis.LAW, decision="award", payout=Money("25000", "CNY"))
    paid = tx.resolve_dispute(
        basis="practice", decision="arbitration award", payout=Money("9000", "CNY")
    )
    assert [e.name for e in paid] == ["dispute_resolved", "claim_paid"]
    assert paid[1].data["from"] == "coop" and paid[1].data["to"] == "mill"
    assert tx.state == "closed" and FLOW.replay(tx.events) == tx


# -- the right party does the right thing (『捌』) ------------------------------------------


def in_performance(terms="on_delivery", delivery_date=date(2027, 1, 15)):
    clock = Clock()
    tx = FLOW.start("B-9", buyer="mill", seller="coop", clock=clock)
    deal = negotiate(tx, clock)
    tx.accept(by="buyer", **deal, actor="mill")
    contract = B2BMachine.contract_terms(200, Money("15800", "CNY"), terms)
    tx.fire("draw_up", **{**contract, "delivery_date": delivery_date})
    tx.fire("sign", by="seller", actor="coop")
    tx.fire("sign", by="buyer", actor="mill")
    tx.fire("complete_formalities", reference="licence")
    return tx, clock


def shipped(terms="on_delivery"):
    tx, clock = in_performance(terms)
    if terms == "prepayment":
        tx.fire("pay", actor="mill", bank="ICBC", amount=Money("3160000", "CNY"), reference="P")
    for trigger in ("stock_goods", "declare_customs", "insure", "obtain_certificates"):
        tx.fire(trigger, reference=trigger)
    tx.fire("hand_to_carrier", carrier="rail", bill_of_lading="BL")
    return tx, clock


def test_only_the_buyer_records_receipt_of_the_goods():
    tx, _ = shipped()
    before = (tx.state, tx.version, tx.events, tx.context)
    with pytest.raises(GuardRejected, match=r"only the buyer \(mill\) can record receipt") as info:
        tx.receive(by="seller", actor="coop")
    assert "'B-9'" in str(info.value) and "performance.logistics.in_transit" in str(info.value)
    assert (tx.state, tx.version, tx.events, tx.context) == before
    assert tx.context.received_at is None  # no claim clock started, no payment due
    with pytest.raises(GuardRejected, match="payment is on delivery"):
        tx.fire("pay", actor="mill", bank="ICBC", amount=Money("3160000", "CNY"), reference="P")
    tx.receive(by="buyer", actor="mill")
    assert tx.context.received_at is not None


def test_both_sides_record_their_preparation():
    tx = FLOW.start("B-10", buyer="mill", seller="coop", clock=Clock())
    tx.fire("prepare", by="buyer", note="market research")
    assert "prepare" in tx.allowed_triggers()
    tx.fire("prepare", by="seller", note="stock and production capacity checked")
    assert [p.by.value for p in tx.context.preparations] == ["buyer", "seller"]
    assert tx.state == "preparation.ready"
    assert FLOW.replay(tx.events) == tx


def test_a_delivery_date_before_the_contract_was_concluded_is_refused():
    with pytest.raises(GuardRejected, match=r"delivery date 2026-11-23 is before the contract"):
        in_performance(delivery_date=date(2026, 11, 23))  # concluded on 2026-11-24
    tx, _ = in_performance(delivery_date=date(2026, 11, 24))  # the same day is fine
    assert tx.in_state("performance")


# -- a claim or payout in another currency is refused, naming the transaction and state ---


def test_a_claim_in_another_currency_is_refused_with_the_transaction_and_state():
    tx, _ = shipped()
    tx.receive(by="buyer", actor="mill")
    before = (tx.state, tx.version, tx.events)
    with pytest.raises(GuardRejected, match=r"in USD.*the contract is in CNY") as info:
        tx.file_claim(
            by="buyer", actor="mill", reason="wet", amount=Money("10", "USD"), evidence="photos"
        )
    assert "'B-9'" in str(info.value) and "'performance." in str(info.value)
    assert (tx.state, tx.version, tx.events) == before


@pytest.mark.parametrize("how", ["settle", "resolve"])
def test_a_payout_in_another_currency_is_refused_with_the_transaction_and_state(how):
    tx, _ = shipped()
    tx.receive(by="buyer", actor="mill")
    tx.file_claim(
        by="buyer", actor="mill", reason="wet", amount=Money("1000", "CNY"), evidence="photos"
    )
    tx.fire("survey", surveyor="CCIC", findings="wet")
    if how == "resolve":
        tx.fire("reject_claim", reference="no")
    before = (tx.state, tx.version, tx.events)
    fire = (
        (lambda: tx.settle_claim(payout=Money("10", "USD")))
        if how == "settle"
        else (lambda: tx.resolve_dispute(basis="law", decision="award", payout=Money("10", "USD")))
    )
    with pytest.raises(
        GuardRejected, match=r"payout USD 10.00 is in USD, but the contract is in CNY"
    ):
        fire()
    assert (tx.state, tx.version, tx.events) == before


# -- no dead end: a claim during performance keeps the payment reachable; books per party --

VALUE = Money("3160000", "CNY")


def balances(tx):
    from ecomflow.projections import Ledger, fold

    ledger = fold(Ledger(), tx.events)
    return {account: ledger.balance(account, "CNY") for account in ("mill", "coop")}


def test_a_claim_filed_during_performance_leaves_the_payment_due():
    from ecomflow.testing import books_by_party

    tx, _ = shipped("on_delivery")
    tx.receive(by="buyer", actor="mill")
    tx.file_claim(
        by="buyer",
        actor="mill",
        reason="12 bales wet",
        amount=Money("50000", "CNY"),
        evidence="photos",
    )
    assert tx.in_state("performance")  # the claim does not end performance
    assert "pay" in tx.allowed_triggers()
    assert "complete" not in tx.allowed_triggers()  # not while the claim is open
    tx.fire("pay", actor="mill", bank="ICBC", amount=VALUE, reference="P")
    tx.fire("survey", surveyor="CCIC", findings="water damage")
    tx.settle_claim(payout=Money("30000", "CNY"))
    books_by_party(tx)
    assert balances(tx) == {"mill": -VALUE.amount + 30000, "coop": VALUE.amount - 30000}
    tx.fire("issue_bank_documents", reference="docs")
    events = tx.fire("complete")
    assert [e.name for e in events] == ["contract_performed"]
    assert tx.state == "closed"  # the trade's claim was decided: nothing more is open
    books_by_party(tx)
    assert FLOW.replay(tx.events) == tx


def test_a_breach_decided_during_performance_can_end_the_contract():
    """The seller claims for non-payment; once decided, the contract is avoided (CISG 64)."""
    from ecomflow.testing import books_by_party

    tx, _ = shipped("against_documents")
    tx.file_claim(
        by="seller", actor="coop", reason="not paid", amount=Money("100000", "CNY"), evidence="L/C"
    )
    tx.fire("survey", surveyor="arbitrator", findings="no payment made")
    tx.fire("reject_claim", reference="buyer disputes")
    tx.resolve_dispute(basis="law", decision="award", payout=Money("80000", "CNY"))
    events = tx.fire("avoid", by="seller", reason="fundamental breach: price never paid")
    assert [e.name for e in events] == ["contract_avoided"]
    assert tx.state == "avoided" and tx.is_finished
    assert balances(tx) == {"mill": -80000, "coop": 80000}
    books_by_party(tx)


def test_avoiding_a_paid_and_delivered_contract_returns_the_price_and_the_goods():
    from ecomflow.testing import books_by_party

    tx, _ = shipped("prepayment")
    tx.receive(by="buyer", actor="mill")
    tx.file_claim(by="buyer", actor="mill", reason="wrong goods", amount=VALUE, evidence="survey")
    tx.fire("survey", surveyor="CCIC", findings="not cotton lint")
    tx.settle_claim(payout=Money("10000", "CNY"))
    events = tx.fire("avoid", by="buyer", reason="fundamental breach: wrong goods")
    assert [(e.stream, e.name) for e in events] == [
        (Stream.COMMERCE, "contract_avoided"),
        (Stream.MONEY, "payment_returned"),
        (Stream.LOGISTICS, "goods_returned"),
    ]
    assert balances(tx) == {"mill": 10000, "coop": -10000}
    books_by_party(tx)
    assert FLOW.replay(tx.events) == tx


# -- the declared books and rules catch a broken transaction --------------------------------


def performed_trade(terms="against_documents"):
    tx, _ = shipped(terms)
    if terms == "against_documents":
        tx.fire("pay", actor="mill", bank="ICBC", amount=VALUE, reference="P")
    tx.receive(by="buyer", actor="mill")
    if terms == "on_delivery":
        tx.fire("pay", actor="mill", bank="ICBC", amount=VALUE, reference="P")
    tx.fire("issue_bank_documents", reference="docs")
    tx.fire("complete")
    tx.file_claim(
        by="buyer", actor="mill", reason="wet", amount=Money("50000", "CNY"), evidence="photos"
    )
    tx.fire("survey", surveyor="CCIC", findings="wet")
    tx.settle_claim(payout=Money("30000", "CNY"))
    return tx


def tampered(tx, change, state=None):
    """A stand-in for a transaction with its events changed by ``change(list) -> list``."""
    import types

    return types.SimpleNamespace(
        id=tx.id,
        state=state or tx.state,
        context=tx.context,
        flow=tx.flow,
        events=tuple(change(list(tx.events))),
    )


def renamed(events, name, new_name=None, **data):
    out = []
    for event in events:
        if event.name == name:
            event = attrs.evolve(
                event, name=new_name or name, data={**event.data, **data} if data else event.data
            )
        out.append(event)
    return out


def copied(events, name):
    """The event ``name`` once more, as if recorded twice (same version, next seq)."""
    event = next(e for e in events if e.name == name)
    twin = attrs.evolve(event, seq=event.seq + 1)
    return [*events, twin]


def moved_before(events, name, other):
    """``name``'s transition placed before ``other``'s (versions swapped)."""
    first = next(e.version for e in events if e.name == name)
    second = next(e.version for e in events if e.name == other)
    swap = {first: second, second: first}
    return sorted(
        (attrs.evolve(e, version=swap.get(e.version, e.version)) for e in events),
        key=lambda e: (e.version, e.seq),
    )


def test_the_declared_books_hold_on_every_exit():
    from ecomflow.testing import books_by_party

    for terms in ("prepayment", "against_documents", "on_delivery"):
        tx = performed_trade(terms)
        assert tx.state == "closed"
        books_by_party(tx)
        assert balances(tx) == {"mill": -VALUE.amount + 30000, "coop": VALUE.amount - 30000}


@pytest.mark.parametrize(
    ("mutant", "message"),
    [
        (
            lambda es: copied(es, PAYMENT_MADE.name),
            "account 'coop' is at CNY 6290000.00; the b2b books say CNY 3130000.00",
        ),
        (lambda es: copied(es, CLAIM_PAID.name), "account 'coop' is at CNY 3100000.00"),
        (
            lambda es: renamed(es, PAYMENT_MADE.name, to="the bank"),
            "account 'coop' is at CNY -30000.00; the b2b books say CNY 3130000.00",
        ),
        (
            lambda es: [e for e in es if e.name != CLAIM_PAID.name],
            "account 'coop' is at CNY 3160000.00; the b2b books say CNY 3130000.00",
        ),
    ],
    ids=["paid twice", "claim paid twice", "price to a stranger", "payout never made"],
)
def test_the_declared_books_catch_a_broken_transaction(mutant, message):
    from ecomflow.testing import books_by_party

    tx = performed_trade()
    books_by_party(tx)
    with pytest.raises(AssertionError, match=message):
        books_by_party(tampered(tx, mutant))


RULES = {rule.__name__: rule for rule in FLOW.definition.invariants}


@pytest.mark.parametrize(
    ("rule", "mutant", "message"),
    [
        (
            "_concluded_exactly_once",
            lambda es: copied(es, CONTRACT_CONCLUDED.name),
            "concluded 2 times, not 1",
        ),
        (
            "_concluded_exactly_once",
            lambda es: renamed(es, CONTRACT_CONCLUDED.name, "offer_accepted_again"),
            "concluded 0 times, not 1",
        ),
        (
            "_receipt_only_after_shipment",
            lambda es: moved_before(es, GOODS_RECEIVED.name, HANDED_TO_CARRIER.name),
            "before they were shipped",
        ),
        (
            "_receipt_only_after_shipment",
            lambda es: renamed(es, GOODS_RECEIVED.name, by="seller"),
            "receipt recorded by",
        ),
        ("_receipt_only_after_shipment", lambda es: copied(es, GOODS_RECEIVED.name), "2 times"),
        ("_paid_once_as_the_terms_say", lambda es: copied(es, PAYMENT_MADE.name), "paid 2 times"),
        (
            "_paid_once_as_the_terms_say",
            lambda es: moved_before(es, PAYMENT_MADE.name, HANDED_TO_CARRIER.name),
            "before handed_to_carrier",
        ),
        (
            "_paid_once_as_the_terms_say",
            lambda es: renamed(es, PAYMENT_MADE.name, amount={"amount": "1.00", "currency": "CNY"}),
            "but the contract value is",
        ),
        (
            "payouts_within_the_claim",
            lambda es: renamed(
                es, CLAIM_PAID.name, amount={"amount": "60000.00", "currency": "CNY"}
            ),
            "on a claim of",
        ),
        (
            "payouts_within_the_claim",
            lambda es: renamed(es, CLAIM_PAID.name, amount={"amount": "10.00", "currency": "USD"}),
            "on a claim of",
        ),
        ("payouts_within_the_claim", lambda es: copied(es, CLAIM_FILED.name), "2 claims filed"),
        ("payouts_within_the_claim", lambda es: copied(es, CLAIM_PAID.name), "paid 2 times"),
        (
            "payouts_within_the_claim",
            lambda es: [e for e in es if e.name != CLAIM_FILED.name],
            "none was filed",
        ),
    ],
)
def test_each_declared_rule_catches_a_broken_transaction(rule, mutant, message):
    tx = performed_trade()
    for check in FLOW.definition.invariants:
        check(tx)  # the real transaction keeps every rule
    with pytest.raises(AssertionError, match=message):
        RULES[rule](tampered(tx, mutant))


def test_a_contract_concluded_in_negotiation_is_caught():
    tx = FLOW.start("B-11", buyer="mill", seller="coop", clock=Clock())
    negotiate(tx, None)
    with pytest.raises(AssertionError, match="concluded 1 times, not 0"):
        RULES["_concluded_exactly_once"](
            tampered(tx, lambda es: [*es, attrs.evolve(es[-1], name=CONTRACT_CONCLUDED.name)])
        )


# -- who must act (『捌』: both sign, the buyer receives and pays, the one harmed claims) ---


def at_act(trigger):
    """A trade where ``trigger`` is next, and that act's valid payload (without the actor)."""
    clock = Clock()
    tx = FLOW.start(f"B-{trigger}", buyer="mill", seller="coop", clock=clock)
    deal = negotiate(tx, clock, valid_until=T0 + timedelta(days=3))
    if trigger == "accept":
        return tx, {"by": "buyer", **deal}, "buyer"
    if trigger == "accept_late":
        clock.now = T0 + timedelta(days=4)
        return tx, {"by": "buyer", **deal}, "buyer"
    tx.accept(by="buyer", **deal, actor="mill")
    tx.fire("draw_up", **B2BMachine.contract_terms(200, Money("15800", "CNY"), "prepayment"))
    if trigger == "sign":
        return tx, {"by": "seller"}, "seller"
    tx.sign(by="seller", actor="coop")
    tx.sign(by="buyer", actor="mill")
    tx.fire("complete_formalities", reference="licence")
    if trigger == "pay":
        return tx, {"bank": "ICBC", "amount": VALUE, "reference": "P"}, "buyer"
    tx.pay(bank="ICBC", amount=VALUE, reference="P", actor="mill")
    for step in ("stock_goods", "declare_customs", "insure", "obtain_certificates"):
        tx.fire(step, reference=step)
    tx.fire("hand_to_carrier", carrier="rail", bill_of_lading="BL")
    if trigger == "receive":
        return tx, {"by": "buyer"}, "buyer"
    tx.receive(by="buyer", actor="mill")
    claim = {"by": "seller", "reason": "r", "amount": Money("10", "CNY"), "evidence": "e"}
    return tx, claim, "seller"


@pytest.mark.parametrize("trigger", sorted(ACTS))
def test_an_act_without_its_party_as_actor_is_refused_and_changes_nothing(trigger):
    tx, payload, party = at_act(trigger)
    before = (tx.state, tx.version, tx.events, tx.context)
    wrong = (None, NAMES[other(party)], other(party), "broker", NAMES[party].upper())
    for actor in wrong:
        with pytest.raises(GuardRejected) as caught:
            tx.fire(trigger, **payload, **({} if actor is None else {"actor": actor}))
        assert [name for name, _ in caught.value.reasons] == ["actor"]
        message = str(caught.value)
        assert f"'{tx.id}'" in message and "(actor)" in message
        if actor is None:
            assert "must be fired with an actor" in message
        else:
            assert repr(actor) in message and NAMES[party] in message
        assert (tx.state, tx.version, tx.events, tx.context) == before
    for actor in (NAMES[party], party):  # by its name in the trade, or by its role
        attempt, _, _ = at_act(trigger)
        events = attempt.fire(trigger, **payload, actor=actor)
        assert events and {event.actor for event in events} == {actor}
        assert attempt.version == tx.version + 1
        assert FLOW.replay(attempt.events) == attempt  # replay checks no actor


def test_the_buyers_bank_may_pay_for_it_but_not_another_bank():
    tx, payload, _ = at_act("pay")
    with pytest.raises(GuardRejected, match=r"only the buyer \(mill\) or its bank \(ICBC\) pays"):
        tx.fire("pay", **payload, actor="Bank of China")
    assert tx.context.payment is None
    (event,) = tx.pay(**payload, actor="ICBC")
    assert (event.name, event.actor, event.data["from"]) == ("payment_made", "ICBC", "mill")


def test_an_act_the_seed_names_no_party_for_takes_any_actor_or_none():
    tx, _, _ = at_act("receive")
    tx.fire("track", reference="Lanzhou")  # no actor needed
    (event,) = tx.fire("track", reference="Xi'an", actor="China Railway")
    assert event.actor == "China Railway"
    tx.receive(by="buyer", actor="mill")


def test_the_offeree_accepts_through_the_repository_and_a_refusal_writes_nothing(tmp_path):
    from ecomflow.store import Repository, SQLiteStore

    with SQLiteStore(tmp_path / "shop.db") as store:
        repo = Repository(store, FLOWS)
        repo.start("b2b", "R-1", buyer="mill", seller="coop", actor="mill")
        repo.execute("R-1", "prepare", by="buyer", note="research")
        repo.execute("R-1", "offer", by="seller", goods=GOODS, quantity=2, price=VALUE)
        repo.execute("R-1", "arrive")
        deal = {"by": "buyer", "goods": GOODS, "quantity": 2, "price": VALUE}
        for who in ({}, {"actor": "coop"}):
            with pytest.raises(GuardRejected, match=r"\(actor\)"):
                repo.execute("R-1", "accept", idempotency_key=f"k-{who}", **deal, **who)
            assert store.version("R-1") == 3
            assert repo.load("R-1").state == "negotiation.offer_standing"
        (_, concluded) = repo.execute("R-1", "accept", actor="mill", **deal)
        assert concluded.name == "contract_concluded" and concluded.actor == "mill"
        assert [t.tx_id for t in repo.find(actor="mill")] == ["R-1"]
        assert [t.tx_id for t in repo.find(actor="coop")] == []


# -- the package's layout: declared events, one guard style, typed methods ----------------

# Every event the flow records, by hand from 『捌』 and the streams it names (the oracle the
# declarations are checked against).
RECORDED = {
    "trade_preparation_started": Stream.INFORMATION,
    "preparation_recorded": Stream.INFORMATION,
    "inquiry_sent": Stream.INFORMATION,
    "offer_made": Stream.COMMERCE,
    "offer_withdrawn": Stream.COMMERCE,
    "offer_received": Stream.INFORMATION,
    "offer_revoked": Stream.COMMERCE,
    "offer_rejected": Stream.COMMERCE,
    "counter_offer_made": Stream.COMMERCE,
    "offer_rejected_by_counter_offer": Stream.COMMERCE,
    "offer_accepted": Stream.COMMERCE,
    "contract_concluded": Stream.COMMERCE,
    "late_acceptance_sent": Stream.COMMERCE,
    "late_acceptance_confirmed": Stream.COMMERCE,
    "late_acceptance_refused": Stream.COMMERCE,
    "negotiation_broken_off": Stream.COMMERCE,
    "contract_drawn_up": Stream.COMMERCE,
    "contract_signed_by": Stream.COMMERCE,
    "contract_signed": Stream.COMMERCE,
    "formalities_completed": Stream.INFORMATION,
    "goods_stocked": Stream.LOGISTICS,
    "customs_declared": Stream.LOGISTICS,
    "cargo_insured": Stream.COMMERCE,
    "certificates_obtained": Stream.INFORMATION,
    "handed_to_carrier": Stream.LOGISTICS,
    "shipping_documents_sent": Stream.INFORMATION,
    "shipment_tracked": Stream.LOGISTICS,
    "goods_received": Stream.LOGISTICS,
    "ownership_transferred": Stream.COMMERCE,
    "payment_made": Stream.MONEY,
    "bank_documents_issued": Stream.MONEY,
    "contract_performed": Stream.COMMERCE,
    "contract_avoided": Stream.COMMERCE,
    "payment_returned": Stream.MONEY,
    "goods_returned": Stream.LOGISTICS,
    "claim_filed": Stream.COMMERCE,
    "survey_reported": Stream.INFORMATION,
    "claim_paid": Stream.MONEY,
    "claim_rejected": Stream.COMMERCE,
    "dispute_resolved": Stream.COMMERCE,
    "trade_closed": Stream.COMMERCE,
    "offer_lapsed": Stream.COMMERCE,  # timed: at the offer's validity
    "claim_period_ended": Stream.COMMERCE,  # timed: two years after receipt
}


def _declared():
    """Every EventType the flow can name: its own (terms) and the shared vocabulary."""
    from ecomflow import vocabulary as _vocabulary
    from ecomflow._definition import EventType
    from ecomflow.flows.b2b import terms

    return {
        value.name: value
        for module in (_vocabulary, terms)
        for value in vars(module).values()
        if isinstance(value, EventType)
    }


def test_every_recorded_event_is_declared_once_with_its_stream_and_labels():
    declared = _declared()
    emits = [e for t in (FLOW.definition.start, *FLOW.definition.transitions) for e in t.emits]
    assert {(e.name, e.stream) for e in emits} == set(RECORDED.items())
    for emit in emits:
        kind = declared[emit.name]
        assert (kind.stream, kind.label) == (emit.stream, emit.label)
        assert kind.label.en and kind.label.zh  # bilingual, for show and the diagrams
    from ecomflow._definition import EventType
    from ecomflow.flows.b2b import terms

    own = {n: v for n, v in vars(terms).items() if isinstance(v, EventType)}
    assert set(own) <= set(terms.__all__)
    assert all(kind.name.upper() == name for name, kind in own.items())


def test_every_guard_is_a_guard_constant_of_the_rules():
    from ecomflow import Guard
    from ecomflow.flows import b2b
    from ecomflow.flows.b2b import rules

    constants = {v for v in vars(rules).values() if isinstance(v, Guard)}
    used = {g for t in FLOW.definition.transitions for g in t.guards}
    assert used == constants
    for guard in used:
        assert getattr(b2b, {g: n for n, g in vars(rules).items() if g is guard}[guard]) is guard


def test_the_rules_are_the_flows_own_invariants():
    from ecomflow.flows.b2b import (
        contract_concluded_at_most_once,
        counter_offer_ends_the_standing_offer,
    )

    assert contract_concluded_at_most_once in FLOW.definition.invariants
    assert counter_offer_ends_the_standing_offer in FLOW.definition.invariants
    tx = FLOW.start("B-9", buyer="mill", seller="coop", clock=Clock())
    negotiate(tx, None)
    tx.counter_offer(by="buyer", goods=GOODS, quantity=200, price=Money("15500", "CNY"))
    tx.arrive()
    tx.accept(by="seller", goods=GOODS, quantity=200, price=Money("15500", "CNY"), actor="coop")
    contract_concluded_at_most_once(tx)
    counter_offer_ends_the_standing_offer(tx)
    twice = tampered(tx, lambda es: copied(es, CONTRACT_CONCLUDED.name))
    with pytest.raises(AssertionError, match="concluded 2 times"):
        contract_concluded_at_most_once(twice)
    standing = tampered(
        tx, lambda es: [e for e in es if e.name != OFFER_REJECTED_BY_COUNTER_OFFER.name]
    )
    with pytest.raises(AssertionError, match="at version 4 left the offer standing"):
        counter_offer_ends_the_standing_offer(standing)


def test_every_trigger_has_a_keyword_only_typed_method():
    import inspect

    from ecomflow._flow import TriggerMethod
    from ecomflow.flows.b2b import B2B

    for spec in FLOW.definition.transitions:
        method = vars(B2B)[spec.trigger]
        assert method.__doc__, spec.trigger
        if spec.trigger == "draw_up":  # takes the ContractTerms whole
            parameters = list(inspect.signature(method).parameters.values())[1:]
            assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters)
            assert parameters[0].name == "terms"
            continue
        assert isinstance(method.__trigger__, TriggerMethod), spec.trigger  # keyword-only
        fields = set() if spec.payload is None else set(attrs.fields_dict(spec.payload))
        assert method.parameters == fields | {"actor"}, spec.trigger
        assert ("actor" in method.required) is spec.requires_actor, spec.trigger
    assert not hasattr(B2B, "act")  # one method per act instead


def test_the_typed_methods_take_their_payload_by_keyword_only():
    tx = FLOW.start("B-10", buyer="mill", seller="coop", clock=Clock())
    tx.prepare(by="buyer", note="research")
    with pytest.raises(TypeError):
        tx.offer("seller", goods=GOODS, quantity=1, price=Money("1", "CNY"))
    assert tx.version == 1  # nothing fired
    events = tx.offer(by="seller", goods=GOODS, quantity=1, price=Money("1", "CNY"), actor="coop")
    assert [(e.name, e.actor) for e in events] == [("offer_made", "coop")]
    assert [e.name for e in tx.withdraw(by="seller", note="typo")] == ["offer_withdrawn"]
    assert tx.context.offer is None and tx.state == "negotiation.open"
    assert [e.name for e in tx.break_off(by="buyer", reason="no")] == ["negotiation_broken_off"]


def test_draw_up_takes_the_contract_terms_whole_by_keyword():
    from ecomflow.flows.b2b import ContractTerms

    clock = Clock()
    tx = FLOW.start("B-11", buyer="mill", seller="coop", clock=clock)
    deal = negotiate(tx, clock)
    tx.accept(by="buyer", **deal, actor="mill")
    terms = ContractTerms(
        rights_and_obligations="r",
        delivery_place="Suzhou",
        delivery_date=date(2027, 1, 15),
        trade_method="CIF",
        transport_method="rail",
        payment_terms="prepayment",
        breach_and_claims="b",
        **deal,
    )
    with pytest.raises(TypeError):
        tx.draw_up(terms)
    (event,) = tx.draw_up(terms=terms, actor="coop", correlation_id="deal-11")
    assert (event.name, event.actor, event.correlation_id) == (
        "contract_drawn_up",
        "coop",
        "deal-11",
    )
    assert tx.context.terms == terms and tx.context.contract_value == Money("3160000", "CNY")


def test_payloads_and_context_are_slotted_and_survive_pickling():
    import pickle

    from ecomflow.flows.b2b import B2BContext, Offer

    offer = Offer(by="seller", goods=GOODS, quantity=200, price=Money("15800", "CNY"))
    assert not hasattr(offer, "__dict__")
    assert hasattr(B2BContext("a", "b"), "__dict__")  # copied whole by fields.replace
    assert offer.value == Money("3160000", "CNY")  # a cached property on a slotted class
    again = pickle.loads(pickle.dumps(offer))
    assert again == offer and again.value == offer.value
    tx = FLOW.start("B-12", buyer="mill", seller="coop", clock=Clock())
    negotiate(tx, None)
    assert pickle.loads(pickle.dumps(tx.context)) == tx.context
