"""Hypothesis strategies shared by the tests: payloads for the direct sale, valid or not."""

from decimal import Decimal

from hypothesis import strategies as st

from ecomflow import Money
from ecomflow.flows.direct_sale import PaymentMethod

CURRENCIES = st.sampled_from(["CNY", "USD", "EUR", "JPY"])
names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30
).filter(lambda s: s.strip())


@st.composite
def money(draw, currency=None, min_value=0, max_value=10_000):
    cur = draw(CURRENCIES) if currency is None else currency
    places = 0 if cur == "JPY" else 2
    cents = draw(st.integers(min_value * 10**places, max_value * 10**places))
    return Money(Decimal(cents).scaleb(-places), cur)


@st.composite
def order_forms(draw):
    return {
        "customer_name": draw(names),
        "address": draw(names),
        "goods_name": draw(names),
        "quantity": draw(st.integers(1, 50)),
        "specification": draw(names),
        "unit_price": draw(money()),
    }


# Each "bad" strategy yields a payload that must raise InvalidPayload.
JUNK = st.one_of(
    st.none(),
    st.floats(allow_nan=True),
    st.integers(-(10**20), 10**20),
    st.booleans(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
CARD_NUMBERS = st.sampled_from(
    ["4111111111111111", "4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"]
)


@st.composite
def bad_order_forms(draw):
    form = draw(order_forms())
    how = draw(st.sampled_from(["missing", "unknown", "quantity", "price", "empty", "card"]))
    if how == "missing":
        del form[draw(st.sampled_from(sorted(form)))]
    elif how == "unknown":
        form["coupon"] = "X"
    elif how == "quantity":
        form["quantity"] = draw(st.sampled_from([0, -1, 1.5, True, "2", None]))
    elif how == "price":
        form["unit_price"] = draw(
            st.sampled_from([19.9, Decimal("19.90"), "19.90", None, Money("-1", "CNY")])
        )
    elif how == "empty":
        form[draw(st.sampled_from(["customer_name", "address", "goods_name"]))] = " "
    else:
        form["address"] = draw(CARD_NUMBERS)
    return form


methods = st.sampled_from(list(PaymentMethod))
