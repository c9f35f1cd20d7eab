import json
from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from ecomflow import Event, Stream, utc_now

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
events = st.builds(
    Event,
    tx_id=st.text(min_size=1, max_size=10),
    version=st.integers(0, 10**6),
    seq=st.integers(0, 20),
    trigger=st.text(max_size=10),
    stream=st.sampled_from(Stream),
    name=st.text(max_size=20),
    data=st.dictionaries(st.text(max_size=5), json_values, max_size=4),
    occurred_at=st.datetimes(timezones=st.just(timezone.utc)),
)


@given(events)
def test_every_event_round_trips_through_json(event):
    text = event.dumps()
    assert Event.from_json(json.loads(text)) == event
    assert json.loads(text)["stream"] == event.stream.value


def test_streams_have_seed_names():
    assert [s.zh for s in Stream] == ["信息流", "商流", "资金流", "物流"]
    assert str(Stream.MONEY) == "money"


def test_event_id_is_stable():
    event = Event("A-1", 3, 1, "t", Stream.MONEY, "n", {}, utc_now())
    assert event.event_id == "A-1:3:1"


def test_events_are_immutable():
    event = Event("A-1", 0, 0, "t", Stream.INFORMATION, "n", {}, datetime.now(timezone.utc))
    try:
        event.version = 9  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("an event could be changed")
    assert event.version == 0


def test_default_clock_is_aware_utc():
    assert utc_now().tzinfo is timezone.utc
