"""tx.board(): a transaction's events in four lanes, one per stream, a row per step."""

import re

import pytest

from ecomflow import Board, InvalidPayload, Stream
from ecomflow._board import LANES, _width
from ecomflow.flows import FLOWS

NAMES = sorted(FLOWS)


def demo(name):
    tx, _ = FLOWS.sample(name).demo(FLOWS[name])
    return tx


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_event_is_in_its_lane_and_its_step(name, lang):
    tx = demo(name)
    board = tx.board(lang)
    assert isinstance(board, Board) and board.tx_id == tx.id and board.lang == lang
    assert [row.version for row in board.rows] == list(range(tx.version + 1))
    for stream in Stream:
        assert len(board.lane(stream)) == sum(1 for e in tx.events if e.stream is stream)
    for row in board.rows:
        events = [e for e in tx.events if e.version == row.version]
        assert row.trigger == events[0].trigger
        assert [len(cell) for cell in row.cells] == [
            sum(1 for e in events if e.stream is stream) for stream in LANES
        ]
    assert LANES == (Stream.INFORMATION, Stream.COMMERCE, Stream.MONEY, Stream.LOGISTICS)


def test_the_lanes_are_labelled_in_the_language():
    tx = demo("direct-sale")
    zh, en = tx.board("zh"), tx.board()
    text = str(zh)
    assert text.splitlines()[0] == "网络商品直销: direct-sale-demo-1"
    assert re.match(r"步骤\s+转换\s+信息流\s+商流\s+资金流\s+物流$", text.splitlines()[1])
    assert "信息流" not in str(en) and "information" in str(en).splitlines()[1]
    # the step's label in the language, and the trigger as the code calls it
    assert "结算并开收费单 (settle)" in text
    assert zh.lane(Stream.MONEY) and all(label for label in zh.lane(Stream.MONEY))
    assert zh.lane(Stream.MONEY) != en.lane(Stream.MONEY)


def test_the_text_columns_line_up_with_chinese_counted_two_wide():
    lines = str(demo("b2b").board("zh")).splitlines()
    header, rule = lines[1], lines[2]
    starts = [match.start() for match in re.finditer(r"-+", rule)]
    # every heading begins where its rule does, counting display columns
    for heading in ("步骤", "转换", "信息流", "商流", "资金流", "物流"):
        at = header.index(heading)
        assert _width(header[:at]) in starts, heading


def test_markdown_and_html():
    board = demo("operation").board("zh")
    markdown = board._repr_markdown_()
    lines = markdown.splitlines()
    assert lines[2] == "| 步骤 | 转换 | 信息流 | 商流 | 资金流 | 物流 |"
    assert len(lines) == 4 + len(board.rows)
    assert all(line.count(" | ") == 5 for line in lines[4:])
    page = board._repr_html_()
    assert page.startswith('<table class="ecomflow-board">')
    assert "<script" not in page and "http" not in page
    assert page.count("<tr>") == 1 + len(board.rows)


def test_text_is_escaped():
    board = Board("T|1", "t", "en", ())
    assert "T\\|1" in board._repr_markdown_()
    assert Board("<b>", "t", "en", ())._repr_html_().count("&lt;b&gt;") == 1


def test_bad_language():
    with pytest.raises(InvalidPayload, match="language 'fr' is not one of en, zh"):
        demo("operation").board("fr")
