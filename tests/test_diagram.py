import pytest

from ecomflow import Diagram, InvalidPayload
from ecomflow.flows.direct_sale import FLOW
from tests.toy import TOY


def test_mermaid_draws_every_edge_with_its_guards():
    diagram = FLOW.diagram()
    assert isinstance(diagram, Diagram) and isinstance(diagram, str)
    lines = diagram.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert "    [*] --> browsing : browse" in lines
    assert (
        "    payment_method_chosen --> shipping : tell sales to deliver [cash on delivery]" in lines
    )
    assert "    settled --> [*]" in lines and "    cancelled --> [*]" in lines
    arrows = [line for line in lines if " --> " in line and "[*]" not in line]
    assert len(arrows) == len(FLOW.transitions)


def test_chinese_labels():
    diagram = FLOW.diagram(lang="zh")
    assert 'state "查看商家网页" as browsing' in diagram
    assert "[货到付款]" in diagram
    assert "网络商品直销" in diagram


def test_dot_is_a_digraph_with_terminal_states_marked():
    dot = FLOW.diagram(format="dot")
    assert dot.startswith('digraph "direct-sale" {') and dot.endswith("}")
    assert '"settled" [label="settled and billed", peripheries=2];' in dot
    assert (
        '"payment_method_chosen" -> "shipping" [label="tell sales to deliver [cash on delivery]"];'
        in dot
    )
    assert dot.count(" -> ") == len(FLOW.transitions) + 1  # plus the start arrow


def test_labels_are_escaped():
    assert '\\"' not in TOY.diagram(format="dot")  # nothing to escape in the toy
    from ecomflow._diagram import _dot_text, _mermaid_text

    assert _dot_text('say "hi"\\') == 'say \\"hi\\"\\\\'
    assert _mermaid_text('a "b"; c') == "a 'b', c"


def test_displays_itself_in_jupyter():
    mermaid = FLOW.diagram()
    assert mermaid._repr_markdown_() == f"```mermaid\n{mermaid}\n```"
    bundle = FLOW.diagram(format="dot")._repr_mimebundle_()
    assert bundle["text/vnd.graphviz"].startswith("digraph")
    assert bundle["text/plain"] == str(FLOW.diagram(format="dot"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"format": "svg"}, "format 'svg' is not one of mermaid, dot"),
        ({"lang": "fr"}, "language 'fr' is not one of en, zh"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(InvalidPayload, match=message):
        FLOW.diagram(**kwargs)
