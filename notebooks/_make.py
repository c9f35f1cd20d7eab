"""Build the teaching notebooks from their cells, run them, and save them with their outputs.

The notebooks in this folder are made here, so their source can be reviewed as a diff:
``python notebooks/_make.py`` rebuilds every notebook and executes it in a fresh kernel
(Graphviz's ``dot`` draws the pictures when installed; the Chinese font is WenQuanYi Micro
Hei). ``tests/test_notebooks.py`` checks that the saved notebooks are the ones made here,
that they run without an error, and that re-running them prints the same as what is saved.

用法 / usage::

    python notebooks/_make.py            # build and run all four
    python notebooks/_make.py b2b        # only notebooks/b2b.ipynb
"""

# ruff: noqa: E501 (the Chinese text is quoted whole; it is two columns wide a character)

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
TIMEOUT = 300

# -- cells --------------------------------------------------------------------------------------

Cell = tuple[str, str, dict[str, Any]]


def md(text: str) -> Cell:
    """Return a Markdown cell."""
    return ("markdown", text.strip("\n"), {})


def code(source: str, **metadata: Any) -> Cell:
    """Return a code cell; ``metadata`` hides it or tags it."""
    return ("code", source.strip("\n"), dict(metadata))


def quote(lines: Sequence[str]) -> str:
    """Return the seed's lines as a Markdown block quote, one paragraph each."""
    return "\n>\n".join(f"> {line}" for line in lines)


def exercise(number: int, zh: str, en: str, answer: str) -> list[Cell]:
    """Return an exercise: the task, a cell to try it in, then the answer folded away below."""
    return [
        md(f"### 练习 {number} / Exercise {number}\n\n{zh}\n\n*{en}*"),
        code("# 在这里试一试 / try it here\n"),
        md(
            "<details><summary>答案 / Answer</summary>\n\n"
            "答案在下面折叠起来的单元格里：点开它（左边的竖条）再运行。\n"
            "*The answer is in the folded cell below: unfold it (the bar on its left), then run it.*"
            "\n\n</details>"
        ),
        code(
            answer,
            jupyter={"source_hidden": True, "outputs_hidden": True},
            tags=["answer"],
        ),
    ]


def setup(flow_name: str, imports: Sequence[str] = (), *, dates: bool = False) -> Cell:
    """Return the first code cell: imports, a fixed clock, two helpers that speak Chinese."""
    lines = [
        "from datetime import "
        + ("date, datetime, timedelta, timezone" if dates else "datetime, timezone"),
        *[line for line in imports if not line.startswith("from ecomflow")],
        "",
        "from IPython.display import display",
        "",
        "from ecomflow import FLOWS, GuardRejected, Money, Stream, TransitionNotAllowed",
        *[line for line in imports if line.startswith("from ecomflow")],
        "from ecomflow.testing import ManualClock",
    ]
    return code(
        "\n".join(lines)
        + f"""

# 固定的时钟：每次重新运行，输出都一样 / a fixed clock: every re-run prints the same
clock = ManualClock(datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc))
flow = FLOWS["{flow_name}"]
STEPS = {{}}  # 每一步的中英文名 / each trigger's label
GUARDS = {{}}  # 每个守卫的中英文名 / each guard's label
for transition in flow.definition.transitions:
    STEPS.setdefault(transition.trigger, transition.label)
    for guard in transition.guards:
        GUARDS.setdefault(guard.name, guard.label)


def where(tx):
    \"\"\"交易现在所处的状态 / Where a transaction stands, in Chinese (and its state's name).\"\"\"
    return "、".join(
        f"{{flow.definition.state(name).label.zh}}（{{name}}）" for name in tx.active_states
    )


def explain(error):
    \"\"\"打印一步被拒绝的理由 / Print why a step was refused, in Chinese and English.\"\"\"
    print(f"{{type(error).__name__}}：{{error.message_in('zh')}}")
    print(f"  {{error}}")
    for guard, reason in getattr(error, "reasons", ()):
        label = GUARDS.get(guard)
        print(f"  ✗ {{label.zh if label else guard}}（{{guard}}）：{{reason('zh')}} / {{reason}}")
    for trigger in getattr(error, "allowed", ()):
        print(f"  ✓ 现在可以 / allowed now：{{STEPS[trigger].zh}}（{{trigger}}）")
"""
    )


def steps_table() -> Cell:
    """Return a cell listing every step of the flow: its names and the streams it records in."""
    return code(
        """
for t in flow.definition.transitions:
    streams = "、".join(s.zh for s in Stream if s in t.streams)
    print(f"[{t.step}] {t.label.zh}（{t.label.en}）— {streams}")
"""
    )


def exercises_heading() -> Cell:
    """Return the heading cell of a notebook's exercises."""
    return md(
        """
## 练习：让它失败 / Exercises: make it fail

*Try each one yourself first, then unfold the answer.*
"""
    )


def lanes_cells() -> list[Cell]:
    """Return the cells showing the finished transaction's four streams, as lanes and one by one."""
    return [
        md(
            """
## 四流 / The four streams as lanes

每一步记录的事件，按信息流、商流、资金流、物流四条泳道排开：上面每一步之后它们是怎样一点点填满的，
这里是最后的全貌。

*Every step's events, laid out in four lanes — information, commerce, money, logistics. Above you
saw them fill step by step; here is the whole picture, then each lane on its own.*
"""
        ),
        code('tx.board("zh")'),
        code(
            """
for stream in Stream:
    print(f"{stream.zh} / {stream.value}:", "；".join(tx.board("zh").lane(stream)) or "—")
"""
        ),
    ]


# -- the seed's own text (quoted exactly; checked against the seed file when it is found) -------

SEED_DIRECT = [
    "☆ 网络商品直销流程",
    "网络商品的直销是指商品需求方和供应方(也可指消费者和生产者)直接利用网络做买卖,排除批发、代理等中间"
    "环节。通常为B to C电子商务模式。这种交易的最大特点是直接见面,环节少、速度快、费用低。网络商品直销"
    "过程分为六步:",
    "(1)消费者进入internet,查看企业和商家的网页;",
    "(2)消费者通过购物对话框填写购物信息:姓名、地址、选购商品名称、数量、规格、价格;",
    "(3)消费者选择支付方式,如信用卡、电子货币、电子支票、借记卡等;",
    "(4)企业或商家的客户服务器检查支付方服务器,看汇款额是否被认可;",
    "(5)客户服务器确认消费者付款后,通知销售部门送货上门;",
    "(6)消费者的开户银行将支付款项传递到他的信用卡公司,信用卡公司开给他收费单。",
]

SEED_INTERMEDIARY = [
    "☆ 网络商品中介交易的流程",
    "这种交易是通过网络商品交易中心,即虚拟网络市场进行的。在整个过程中,交易中心以互联网为基础。将商品"
    "供应商、采购商和银行紧密地联系起来,为客户提供市场信息、商品交易、仓储配送、贷款结算等全方位服务。",
    "网络商品中介交易过程可分为四步:",
    "(1)买卖双方将供需信息从网上告诉网络商品交易中心,交易中心向参与者发布大量的、详细的交易数据和市场"
    "信息。",
    "(2)买卖双方根据这些信息选择自己的贸易伙伴,交易中心从中撮合,促使买卖双方签定合同。",
    "(3)买方在交易中心指定的银行办理转帐付款手续。",
    "(4)交易中心设在各地的配送部门将卖方的货物送交买方。",
]

SEED_OPERATION = [
    "电子商务的运作流程:",
    "1.企业将商品信息通过网络展示给客户,客户通过访问网版站,选择需要购权买的商品,并填写订单。",
    "2.厂方通过订单确认客户,告之收费方法,同时通知自己的应用系统组织货源程序。",
    "3.客户通过电子结算与金融部门交互执行交易。",
    "4.金融部门通过电子邮件(或其它方式)通知买卖双方交易的结果。",
    "5.厂方组织货物,并送达到客户手中。 从上述电子商务的实际流程中,电子商务是集信息流、商流、资金流、"
    "物流为一身,是整个的贸易交易过程。",
]

SEED_B2B = [
    "1.交易前的准备:这一阶段主要是指买卖双方和参加交易各方在签约前的准专备活动。",
    "2.交易磋商:在商品的供需双方都了解了有关商品的供需信息后,具体商品交易磋商过程就开始了,包括询盘、"
    "发盘、还盘以及组织资源等活动。",
    "3.签订合同和办理手续:电子商务的特点就是可以签订电子商务交易合同。交属易双方可以利用现代电子通信设备"
    "和通信方法,经过认真谈判和磋商后,在交易中的权利、所承担的义务以及对所购买商品的种类、数量、价格、"
    "交货地点、交货期、交易方式和运输方式、违约和索赔等合同条款,全部以电子交易合同作出全面详细的规定。",
    "4.履行合同和索赔:这一阶段是从买卖双方办完所有各种手续之后开始,卖方要备货、组织货源,同时进行报关、"
    "保险、取证等,买方将所购商品交付给运输公司包装、起运、发货。买卖双方可以通过电子商务服务器跟踪发出"
    "的货物,银行和金融机构也按照合同,处理双方收付款、进行结算,出具相应的银行单据等,直到买方收到自己"
    "所购商品,完成整个交易过程。违背和条款并造成一方损失时,就要进行索赔和理赔工作。发生争议,应以合同"
    "条款为依据,按照法律和惯例来处理",
]

AS_IT_STANDS = "（原文照录，错字也照录 / quoted as it stands, slips and all）"

# -- the direct sale ----------------------------------------------------------------------------

STEP_CELL = 'display(tx.diagram(lang="zh"), tx.board("zh"))'


def direct_sale() -> list[Cell]:
    """网络商品直销 — the direct sale of 『壹』『贰』."""
    return [
        md(
            """
# 网络商品直销 — The direct sale

教材『壹』『贰』的第一种交易流程：买方和卖方直接在网上做买卖，没有批发、代理等中间环节（B2C）。
这本笔记画出这个流程，带一笔交易一步一步走完，看一步怎样被拒绝、理由是什么，看四流怎样被填满，
最后留几道“让它失败”的练习。

*The first process of seed sections 『壹』『贰』: buyer and seller trade directly over the network,
with no wholesaler or agent between them (B2C). This notebook draws the flow, steps one sale
through it, shows a step refused with its reason and the four streams filling, and ends with
exercises that make it fail.*

运行方法 / to run it: `pip install -e '.[notebooks]'`，然后 / then `jupyter lab notebooks/`.
"""
        ),
        md(
            "## 教材原文 / The seed's text\n\n"
            + quote(SEED_DIRECT)
            + "\n\n*A direct sale in six steps: (1) the consumer browses the merchant's pages; (2)"
            " fills in the shopping form — name, address, goods, quantity, specification, price;"
            " (3) chooses a way to pay — credit card, electronic money, electronic cheque, debit"
            " card; (4) the merchant's server asks the payer's server whether the amount is"
            " approved; (5) once paid, the sales department is told to deliver to the door; (6)"
            " the consumer's bank passes the payment to the card company, which bills the"
            " consumer.* 货到付款（cash on delivery）来自『柒』/ *comes from 『柒』.*"
        ),
        setup("direct-sale"),
        md(
            """
## 流程图 / The flow's diagram

方框是状态，箭头是一步（触发器），方括号里是守卫——这一步必须满足的条件。
`flow.diagram(lang="en")` 画英文版，`format="dot"` 给出 Graphviz 源码。

*Boxes are states, arrows are steps (triggers), brackets hold guards — the conditions a step
must meet. `flow.diagram(lang="en")` draws it in English, `format="dot"` gives Graphviz source.*
"""
        ),
        code('flow.diagram(lang="zh")'),
        md(
            """
每一步的中英文名，以及它记录在哪几个流里 / *Every step, its names, and the streams it records in:*
"""
        ),
        steps_table(),
        md(
            """
## 一笔交易，一步一步 / A sale, step by step

每运行一个单元格走一步：图上 ▶ 和高亮是交易现在的位置，粗箭头上的编号是它走过的路；
下面的表是四流的泳道，每一步记录的事件都填进去。

*Run one cell per step: the highlighted state (▶) is where the sale stands, the bold numbered
arrows the path it took; the table below is the four lanes, filling with each step's events.*

**(1)** 消费者进入internet,查看企业和商家的网页 — *the consumer browses the merchant's pages.*
"""
        ),
        code(
            """
tx = flow.start(
    "A-17", merchant="Hangzhou Tea House", page="https://shop.example/tea/longjing", clock=clock
)
"""
            + STEP_CELL
        ),
        md("**(2)** 填写购物信息 — *fill in the shopping form.*"),
        code(
            """
tx.fill_order(
    customer_name="Li Lei",
    address="1 Zhongguancun Street, Beijing",
    goods_name="Longjing green tea",
    quantity=2,
    specification="250 g tin",
    unit_price=Money("88.00", "CNY"),
)
"""
            + STEP_CELL
        ),
        md("**(3)** 选择支付方式：信用卡 — *choose a way to pay: a credit card.*"),
        code('tx.choose_payment(method="credit_card", card_last4="4242")\n' + STEP_CELL),
        md(
            "**(4)** 支付方服务器不认可这笔汇款：卡超过了额度 —"
            " *the payer's server declines: the card is over its limit.*"
        ),
        code('tx.decline_payment(reason="card over its limit")\n' + STEP_CELL),
        md("**(3)** 再选一次：借记卡 — *choose again: a debit card.*"),
        code('tx.choose_payment(method="debit_card", token="tok_debit_9f3a")\n' + STEP_CELL),
        md("**(4)** 这次汇款额被认可 — *this time the amount is approved.*"),
        code(
            'tx.approve_payment(amount=Money("176.00", "CNY"), reference="AUTH-20261124-01")\n'
            + STEP_CELL
        ),
        md(
            "**(5)** 确认付款后，通知销售部门送货上门 —"
            " *paid, so the sales department is told to deliver.*"
        ),
        code('tx.dispatch(carrier="SF Express", tracking_ref="SF1234567890")\n' + STEP_CELL),
        code('tx.deliver(received_by="Li Lei")\n' + STEP_CELL),
        md(
            "**(6)** 银行把款项传给信用卡公司，信用卡公司开出收费单 —"
            " *the bank passes the payment on, the statement is issued.*"
        ),
        code('tx.settle(statement_ref="STMT-2026-11")\n' + STEP_CELL),
        code("where(tx), tx.version, tx.is_finished"),
        md(
            """
## 被拒绝的一步 / A refusal, with its reason

另一笔订单用信用卡，还没有得到支付方认可就要发货：守卫拒绝了，并说出理由；交易原封不动。

*Another order, by credit card, asks to ship before the payer has approved: a guard refuses and
says why; the transaction is left exactly as it was.*
"""
        ),
        code(
            """
other = flow.start("A-18", merchant="Hangzhou Tea House", clock=clock)
other.fill_order(customer_name="Han Meimei", address="Shanghai", goods_name="Pu'er tea",
                 quantity=1, specification="357 g cake", unit_price=Money("120.00", "CNY"))
other.choose_payment(method="credit_card", card_last4="1881")
try:
    other.dispatch(carrier="SF Express")
except GuardRejected as error:
    explain(error)
print("仍在 / still at:", where(other), "— version", other.version)
"""
        ),
        *lanes_cells(),
        md(
            """
## 练习：让它失败 / Exercises: make it fail

每道题先自己写，再看答案。答案的单元格捕获错误并打印理由——拒绝不是崩溃。

*Try each one yourself first, then look at the answer. The answers catch the error and print its
reason: a refusal is not a crash.*
"""
        ),
        *exercise(
            1,
            "**先发货再付款。** 顾客选了借记卡，支付方还没认可，商家就通知送货（`dispatch`）。会怎样？"
            "换成货到付款（`cash_on_delivery`）又会怎样？",
            "**Ship before paying.** The customer chose a debit card and nothing is approved yet, but"
            " the merchant dispatches. What happens? And with cash on delivery?",
            """
sale = flow.start("A-21", merchant="Hangzhou Tea House", clock=clock)
sale.fill_order(customer_name="Li Lei", address="Beijing", goods_name="tea", quantity=1,
                specification="tin", unit_price=Money("50.00", "CNY"))
sale.choose_payment(method="debit_card")
try:
    sale.dispatch(carrier="SF Express")
except GuardRejected as error:
    explain(error)

cod = flow.start("A-22", merchant="Hangzhou Tea House", clock=clock)
cod.fill_order(customer_name="Li Lei", address="Beijing", goods_name="tea", quantity=1,
               specification="tin", unit_price=Money("50.00", "CNY"))
cod.choose_payment(method="cash_on_delivery")
cod.dispatch(carrier="SF Express")
print("货到付款可以先发货 / cash on delivery ships unpaid:", where(cod))
""",
        ),
        *exercise(
            2,
            "**认可的金额不对。** 订单总额是 176.00 元，支付方服务器却认可了 170.00 元（第 (4) 步）。",
            "**The wrong amount approved.** The order totals CNY 176.00 but the payer's server"
            " approves CNY 170.00 (step 4).",
            """
sale = flow.start("A-23", merchant="Hangzhou Tea House", clock=clock)
sale.fill_order(customer_name="Li Lei", address="Beijing", goods_name="Longjing green tea",
                quantity=2, specification="250 g tin", unit_price=Money("88.00", "CNY"))
sale.choose_payment(method="credit_card", card_last4="4242")
try:
    sale.approve_payment(amount=Money("170.00", "CNY"), reference="AUTH-1")
except GuardRejected as error:
    explain(error)
print("仍在 / still at:", where(sale))
""",
        ),
        *exercise(
            3,
            "**发货以后再取消。** 上面那笔 A-17 已经结算；如果在送货途中顾客想取消订单呢？",
            "**Cancel after dispatch.** What if the customer wants to cancel while the parcel is on"
            " its way?",
            """
sale = flow.start("A-24", merchant="Hangzhou Tea House", clock=clock)
sale.fill_order(customer_name="Li Lei", address="Beijing", goods_name="tea", quantity=1,
                specification="tin", unit_price=Money("50.00", "CNY"))
sale.choose_payment(method="cash_on_delivery")
sale.dispatch(carrier="SF Express")
try:
    sale.cancel(reason="changed my mind")
except TransitionNotAllowed as error:
    explain(error)
""",
        ),
    ]


# -- the intermediary trade ---------------------------------------------------------------------


def intermediary() -> list[Cell]:
    """网络商品中介交易 — the trade through an exchange of 『壹』『贰』."""
    return [
        md(
            """
# 网络商品中介交易 — The intermediary trade

教材『壹』『贰』的第二种交易流程：买卖双方通过网络商品交易中心（虚拟网络市场）做买卖。
交易中心发布行情、撮合买卖，买方在指定银行付款，交易中心的配送部门送货，最后与卖方结算。

*The second process of 『壹』『贰』: buyer and seller trade through an online exchange, a virtual
market. The exchange publishes market data and matches them; the buyer pays at a designated
bank; the exchange's distribution centre delivers; then it settles with the seller.*

运行方法 / to run it: `pip install -e '.[notebooks]'`，然后 / then `jupyter lab notebooks/`.
"""
        ),
        md(
            "## 教材原文 / The seed's text\n\n"
            + quote(SEED_INTERMEDIARY)
            + "\n\n*A trade through an exchange in four steps: (1) buyers and sellers post supply and"
            " demand, and the exchange publishes market data; (2) the exchange matches them and"
            " they sign a contract; (3) the buyer pays through a bank the exchange designates;"
            " (4) the exchange's distribution centres deliver the seller's goods to the buyer.*"
        ),
        setup(
            "intermediary", ["from decimal import Decimal", "from ecomflow.flows import Exchange"]
        ),
        md(
            """
## 流程图 / The flow's diagram

一笔成交从“已撮合”开始：它是交易中心撮合出来的，不是买方自己开始的。

*A trade starts at "matched": the exchange's match starts it, not the buyer.*
"""
        ),
        code('flow.diagram(lang="zh")'),
        steps_table(),
        md(
            """
## 一笔交易，一步一步 / A trade, step by step

**(1)** 卖方和买方把供需信息告诉交易中心，交易中心发布行情 — *supply and demand are posted;
the exchange publishes market data.*
"""
        ),
        code(
            """
exchange = Exchange(
    "HGE",  # 杭州粮食交易中心 / Hangzhou Grain Exchange
    designated_banks=["Bank of China"],
    fee_rate=Decimal("0.005"),
    clock=clock,
)
exchange.post_supply("Jiaxing Rice Farm", goods="rice", quantity=800, price=Money("3.20", "CNY"))
exchange.market("rice")
"""
        ),
        md(
            "**(2)** 买方出价高于卖方要价，交易中心撮合成交（价格优先，时间优先）—"
            " *the bid meets the ask: the exchange matches them (price, then time).*"
        ),
        code(
            """
(tx,) = exchange.post_demand(
    "Suzhou Flour Mill", goods="rice", quantity=500, price=Money("3.25", "CNY")
)
print(exchange.market("rice"))
# 交易中心自己的记录：挂牌、发布行情、撮合 / the exchange's own record: postings, data, the match
display(exchange.transaction.board("zh"))
"""
            + STEP_CELL
        ),
        md("**(2)** 买卖双方签定合同 — *both parties sign the contract.*"),
        code('tx.sign(party="buyer", signatory="Zhou Min, Suzhou Flour Mill")\n' + STEP_CELL),
        code('tx.sign(party="seller", signatory="Chen Jie, Jiaxing Rice Farm")\n' + STEP_CELL),
        md(
            "**(3)** 买方在交易中心指定的银行办理转帐付款 —"
            " *the buyer pays through the designated bank.*"
        ),
        code(
            'tx.pay(bank="Bank of China", amount=Money("1600.00", "CNY"), reference="BOC-TRF-0042")\n'
            + STEP_CELL
        ),
        md(
            "**(4)** 交易中心的配送部门把卖方的货物送交买方 —"
            " *the distribution centre delivers the seller's goods.*"
        ),
        code(
            'tx.release(warehouse="Jiaxing distribution centre", carrier="exchange fleet")\n'
            + STEP_CELL
        ),
        code('tx.deliver(received_by="Suzhou Flour Mill")\n' + STEP_CELL),
        md(
            "最后交易中心与卖方结算：买方付的钱 = 卖方所得 + 交易中心的手续费 —"
            " *settlement: what the buyer paid = the seller's payout + the exchange's fee.*"
        ),
        code(
            'for event in tx.settle(reference="HGE-SET-0042"):\n'
            '    print(event.name, event.data["amount"])\n' + STEP_CELL
        ),
        code("where(tx), tx.version, tx.is_finished"),
        md(
            """
## 被拒绝的一步 / A refusal, with its reason

第二笔成交：买方去了一家交易中心没有指定的银行，而且少付了钱。两个守卫都拒绝，各自说出理由。

*A second trade: the buyer pays at a bank the exchange does not designate, and too little. Both
guards refuse, each with its reason; nothing changes.*
"""
        ),
        code(
            """
exchange.post_supply("Jiaxing Rice Farm", goods="wheat", quantity=100, price=Money("2.80", "CNY"))
(second,) = exchange.post_demand("Suzhou Flour Mill", goods="wheat", quantity=100,
                                 price=Money("2.80", "CNY"))
second.sign(party="buyer", signatory="Zhou Min")
second.sign(party="seller", signatory="Chen Jie")
try:
    second.pay(bank="ICBC", amount=Money("250.00", "CNY"), reference="ICBC-1")
except GuardRejected as error:
    explain(error)
print("仍在 / still at:", where(second), "— version", second.version)
"""
        ),
        *lanes_cells(),
        exercises_heading(),
        *exercise(
            1,
            "**先发货再付款。** 合同签好了，买方还没付款，配送部门就要出库发货（`release`）。",
            "**Ship before paying.** The contract is signed, the buyer has not paid, and the"
            " distribution centre releases the goods.",
            """
exchange.post_supply("Jiaxing Rice Farm", goods="corn", quantity=50, price=Money("2.10", "CNY"))
(trade,) = exchange.post_demand("Suzhou Flour Mill", goods="corn", quantity=50,
                                price=Money("2.10", "CNY"))
trade.sign(party="buyer", signatory="Zhou Min")
trade.sign(party="seller", signatory="Chen Jie")
try:
    trade.release(warehouse="Jiaxing distribution centre")
except TransitionNotAllowed as error:
    explain(error)
""",
        ),
        *exercise(
            2,
            "**没签合同就付款。** 刚撮合成交，买方就去付款。",
            "**Pay before signing.** The trade was just matched and the buyer pays at once.",
            """
exchange.post_supply("Jiaxing Rice Farm", goods="soybeans", quantity=10, price=Money("4.50", "CNY"))
(trade,) = exchange.post_demand("Suzhou Flour Mill", goods="soybeans", quantity=10,
                                price=Money("4.50", "CNY"))
try:
    trade.pay(bank="Bank of China", amount=Money("45.00", "CNY"), reference="BOC-9")
except TransitionNotAllowed as error:
    explain(error)
""",
        ),
        *exercise(
            3,
            "**货还没送到就和卖方结算。** 货物已经出库在路上，交易中心就把货款付给卖方（`settle`）。",
            "**Pay the seller before the buyer has the goods.** The goods have left the warehouse"
            " and the exchange settles with the seller.",
            """
exchange.post_supply("Jiaxing Rice Farm", goods="sorghum", quantity=30, price=Money("3.00", "CNY"))
(trade,) = exchange.post_demand("Suzhou Flour Mill", goods="sorghum", quantity=30,
                                price=Money("3.00", "CNY"))
trade.sign(party="buyer", signatory="Zhou Min")
trade.sign(party="seller", signatory="Chen Jie")
trade.pay(bank="Bank of China", amount=Money("90.00", "CNY"), reference="BOC-10")
trade.release(warehouse="Jiaxing distribution centre")
try:
    trade.settle(reference="HGE-SET-9")
except TransitionNotAllowed as error:
    explain(error)
""",
        ),
    ]


# -- the operation flow -------------------------------------------------------------------------


def operation() -> list[Cell]:
    """电子商务的运作流程 — the operation flow of 『叁』."""
    return [
        md(
            """
# 电子商务的运作流程 — The operation flow

教材『叁』的五步运作流程：展示商品、下订单，确认并告知付款方法，电子结算，金融部门通知结果，
组织货物送到客户手中。它把信息流、商流、资金流、物流集于一身：每一步都标出它记录在哪几个流里。

*The five-step operation of seed section 『叁』: show goods and order; confirm and say how to pay;
settle electronically; the institution reports the result; organise the goods and deliver. It
joins the four streams: every step is tagged with the streams it records in.*

运行方法 / to run it: `pip install -e '.[notebooks]'`，然后 / then `jupyter lab notebooks/`.
"""
        ),
        md(
            "## 教材原文 / The seed's text\n\n"
            + quote(SEED_OPERATION)
            + f"\n\n{AS_IT_STANDS}\n\n*1. The business shows its goods online; the customer"
            " chooses and fills in an order. 2. The maker confirms the customer, says how to pay,"
            " and tells its own systems to organise supply. 3. The customer settles"
            " electronically with a financial institution. 4. The institution tells both parties"
            " the result, by e-mail or otherwise. 5. The maker organises the goods and delivers"
            " them. E-commerce joins information, commerce, money and logistics in one trade.*"
        ),
        setup("operation"),
        md("## 流程图 / The flow's diagram"),
        code('flow.diagram(lang="zh")'),
        md("每一步和它记录的流 / *Every step and the streams it records in:*"),
        steps_table(),
        md(
            """
## 一笔交易，一步一步 / An order, step by step

**1.** 企业在网上展示商品，客户选择商品并填写订单 — *the goods are shown; the customer orders.*
"""
        ),
        code(
            """
tx = flow.start("OP-1", merchant="Ningbo Appliance Works",
                catalog="https://works.example/kettles", clock=clock)
tx.place_order(customer="Wang Fang", address="88 Nanjing Road, Shanghai",
               goods_name="electric kettle", quantity=3, unit_price=Money("129.00", "CNY"))
"""
            + STEP_CELL
        ),
        md(
            "**2.** 厂方确认客户，告知收费方法，通知应用系统组织货源 —"
            " *confirm, say how to pay, organise supply.*"
        ),
        code(
            """
tx.confirm_order(payment_instructions="pay online through the bank gateway",
                 supply_note="take 3 kettles from stock")
"""
            + STEP_CELL
        ),
        md("**3.** 客户通过电子结算与金融部门交互 — *the customer settles electronically.*"),
        code(
            'tx.settle(institution="Bank of Ningbo", amount=Money("387.00", "CNY"), reference="EB-1")\n'
            + STEP_CELL
        ),
        md(
            "**4.** 金融部门通知买卖双方：这次失败了（网关超时）—"
            " *the institution reports a failure: the gateway timed out.*"
        ),
        code(
            'tx.notify_failure(channel="email", reason="the bank gateway timed out")\n' + STEP_CELL
        ),
        md("**3.** 再结算一次 — *settle again.*"),
        code(
            'tx.settle(institution="Bank of Ningbo", amount=Money("387.00", "CNY"), reference="EB-2")\n'
            + STEP_CELL
        ),
        md("**4.** 这次成功 — *this time it succeeds.*"),
        code('tx.notify_success(channel="email", confirmation_ref="OK-EB-2")\n' + STEP_CELL),
        md("**5.** 厂方组织货物，送到客户手中 — *the goods are delivered.*"),
        code('tx.deliver(carrier="ZTO Express", received_by="Wang Fang")\n' + STEP_CELL),
        code("where(tx), tx.version, tx.is_finished"),
        md(
            """
## 被拒绝的一步 / A refusal, with its reason

另一笔订单结算的金额和订单总额不符：守卫拒绝，交易不变。

*Another order settles an amount that is not its total: the guard refuses; nothing changes.*
"""
        ),
        code(
            """
other = flow.start("OP-2", merchant="Ningbo Appliance Works", clock=clock)
other.place_order(customer="Li Na", address="Hangzhou", goods_name="rice cooker", quantity=1,
                  unit_price=Money("299.00", "CNY"))
other.confirm_order(payment_instructions="pay online through the bank gateway")
try:
    other.settle(institution="Bank of Ningbo", amount=Money("29.90", "CNY"), reference="EB-3")
except GuardRejected as error:
    explain(error)
print("仍在 / still at:", where(other), "— version", other.version)
"""
        ),
        *lanes_cells(),
        exercises_heading(),
        *exercise(
            1,
            "**先发货再付款。** 订单确认了，还没有结算，厂方就把货送出去（`deliver`）。",
            "**Ship before paying.** The order is confirmed but not yet settled, and the maker"
            " delivers.",
            """
order = flow.start("OP-3", merchant="Ningbo Appliance Works", clock=clock)
order.place_order(customer="Wang Fang", address="Shanghai", goods_name="electric kettle",
                  quantity=1, unit_price=Money("129.00", "CNY"))
order.confirm_order(payment_instructions="pay online")
try:
    order.deliver(carrier="ZTO Express")
except TransitionNotAllowed as error:
    explain(error)
""",
        ),
        *exercise(
            2,
            "**还没结算就通知成功。** 金融部门在客户结算之前就发出“交易成功”的通知。",
            "**Report success before any settlement.** The institution reports success before the"
            " customer has settled.",
            """
order = flow.start("OP-4", merchant="Ningbo Appliance Works", clock=clock)
order.place_order(customer="Wang Fang", address="Shanghai", goods_name="electric kettle",
                  quantity=1, unit_price=Money("129.00", "CNY"))
order.confirm_order(payment_instructions="pay online")
try:
    order.notify_success(channel="email", confirmation_ref="OK-1")
except TransitionNotAllowed as error:
    explain(error)
""",
        ),
    ]


# -- B2B ----------------------------------------------------------------------------------------

B2B_STEP = (
    "def step(trigger, **payload):\n"
    '    """走一步，打印交易现在的位置 / Fire one step and print where the deal stands."""\n'
    "    tx.fire(trigger, **payload)\n"
    '    print(f"{tx.version:>2}. {STEPS[trigger].zh}（{trigger}）→ {where(tx)}")'
)


def b2b() -> list[Cell]:
    """电子商务的一般流程 — the general B2B process of 『捌』."""
    return [
        md(
            """
# 电子商务的一般流程 — The general B2B process

教材『捌』的四个阶段：交易前的准备、交易磋商（询盘、发盘、还盘、接受）、签订合同和办理手续、
履行合同和索赔。阶段是嵌套的状态；履行合同时，货物和货款两条线并行。磋商按《联合国国际货物销售合同
公约》（CISG）第 14–23 条：发盘有有效期，还盘使双方角色互换，逾期接受要发盘人确认。

*The four phases of seed section 『捌』: preparation, negotiation (inquiry, offer, counter-offer,
acceptance), the contract and its formalities, performance and claims. Phases are nested
states; in performance the goods and the payment run side by side. Negotiation follows CISG
Art. 14–23: offers lapse, a counter-offer swaps the roles, a late acceptance needs the
offeror's confirmation.*

运行方法 / to run it: `pip install -e '.[notebooks]'`，然后 / then `jupyter lab notebooks/`.
"""
        ),
        md(
            "## 教材原文 / The seed's text\n\n"
            + quote(SEED_B2B)
            + f"\n\n{AS_IT_STANDS}\n\n*1. Preparation: what buyer, seller and the other parties"
            " do before signing. 2. Negotiation: inquiry, offer, counter-offer, organising"
            " resources. 3. The contract and formalities: an electronic contract that sets out"
            " rights, obligations, goods, quantity, price, place and date of delivery, trade and"
            " transport terms, breach and claims. 4. Performance and claims: the seller stocks"
            " the goods, clears customs, insures, obtains certificates and hands them to a"
            " carrier; the banks settle as the contract says and issue documents, until the"
            " buyer receives the goods; a breach that causes a loss leads to a claim, a dispute"
            " is settled by the contract, the law and custom.*"
        ),
        setup("b2b", ["from ecomflow.flows.b2b import ContractTerms"], dates=True),
        md(
            """
## 流程图 / The flow's diagram

外面的大框是四个阶段；“履行合同”里的虚线把并行的几条线分开（货物、货款、索赔）。

*The outer boxes are the four phases; inside performance, the regions run side by side (goods,
payment, claims).*
"""
        ),
        code('flow.diagram(lang="zh")'),
        steps_table(),
        md(
            """
## 一笔交易，一个阶段一个阶段 / A deal, phase by phase

这笔交易有二十多步，所以每一步打印它现在的位置，每个阶段结束时画一次图（编号是走过的每一步）
和四流泳道。`step(trigger, ...)` 就是 `tx.fire(trigger, ...)` 再打印位置。

*This deal has over twenty steps, so each step prints where the deal stands, and each phase ends
with its diagram (every step numbered on the path) and the four lanes. `step(trigger, ...)` is
`tx.fire(trigger, ...)`, then a line saying where it stands.*

**1. 交易前的准备 / Preparation**
"""
        ),
        code(
            """
tx = flow.start("B-1", buyer="Suzhou Textile Mill", seller="Xinjiang Cotton Cooperative",
                clock=clock)
"""
            + B2B_STEP
            + """


step("prepare", by="buyer", note="compared three cotton suppliers' catalogues")
"""
            + STEP_CELL
        ),
        md(
            "**2. 交易磋商 / Negotiation** — 询盘、发盘、还盘、接受："
            "还盘以后，原来的受盘人变成发盘人 —"
            " *inquiry, offer, counter-offer, acceptance: after a counter-offer the roles swap.*"
        ),
        code(
            """
step("inquire", by="buyer", goods="cotton lint", note="price for 200 t, CIF?")
step("offer", by="seller", goods="cotton lint", quantity=200, price=Money("15800", "CNY"),
     valid_until=clock.now + timedelta(days=7), firm=True)
step("arrive")
step("counter_offer", by="buyer", goods="cotton lint", quantity=200, price=Money("15500", "CNY"))
step("arrive")
step("accept", by="seller", actor="Xinjiang Cotton Cooperative", goods="cotton lint",
     quantity=200, price=Money("15500", "CNY"))
"""
            + STEP_CELL
        ),
        md("**3. 签订合同和办理手续 / The contract and its formalities**"),
        code(
            """
step("draw_up", rights_and_obligations="seller delivers conforming goods; buyer pays",
     goods="cotton lint", quantity=200, price=Money("15500", "CNY"), delivery_place="Suzhou",
     delivery_date=date(2027, 1, 15), trade_method="CIF Suzhou", transport_method="rail",
     payment_terms="against_documents",
     breach_and_claims="claims with a survey report within the notice period")
step("sign", by="buyer", actor="Suzhou Textile Mill")
step("sign", by="seller", actor="Xinjiang Cotton Cooperative")
step("complete_formalities", reference="export licence XJ-2026-42")
"""
            + STEP_CELL
        ),
        md(
            "**4. 履行合同 / Performance** — 卖方备货、报关、保险、取证、交付承运；"
            "合同约定凭单付款，所以货交承运以后买方才付款 —"
            " *the seller stocks, clears customs, insures, gets certificates, hands to the"
            " carrier; payment is against documents, so the buyer pays once the goods are with"
            " the carrier.*"
        ),
        code(
            """
step("stock_goods", reference="warehouse receipt W-88")
step("declare_customs", reference="declaration 2026-XJ-7781")
step("insure", reference="PICC cargo policy 55-0192")
step("obtain_certificates", reference="quality and origin certificates")
step("hand_to_carrier", carrier="China Railway Express", bill_of_lading="CR-7731")
step("pay", actor="Suzhou Textile Mill", bank="ICBC Suzhou", amount=Money("3100000", "CNY"),
     reference="against documents, L/C 20261124")
"""
            + STEP_CELL
        ),
        md(
            "跟踪货物，买方收货，银行出具单据，履约完成 —"
            " *tracking, receipt, the banks' documents, performance complete.*"
        ),
        code(
            """
step("track", reference="passed Lanzhou")
step("receive", by="buyer", actor="Suzhou Textile Mill")
step("issue_bank_documents", reference="settlement advice and payment receipt")
step("complete")
"""
            + STEP_CELL
        ),
        md(
            "**4. 索赔和理赔 / Claims** — 12 包棉花到货时受潮：买方索赔，查勘，卖方理赔 —"
            " *12 bales arrived wet: the buyer claims, a surveyor inspects, the claim is paid.*"
        ),
        code(
            """
step("file_claim", by="buyer", actor="Suzhou Textile Mill", reason="12 bales arrived wet",
     amount=Money("50000", "CNY"), evidence="arrival survey photos")
step("survey", surveyor="CCIC Suzhou", findings="water damage in one wagon")
step("settle_claim", payout=Money("30000", "CNY"))
"""
            + STEP_CELL
        ),
        code("where(tx), tx.version, tx.is_finished"),
        md(
            """
## 被拒绝的一步 / A refusal, with its reason

受盘人还盘以后，原来的发盘人成了受盘人。买方想“接受”自己的还盘：只有受盘人才能接受。

*After a counter-offer the first offeror becomes the offeree. The buyer tries to accept its own
counter-offer: only the offeree may accept.*
"""
        ),
        code(
            """
deal = flow.start("B-2", buyer="Suzhou Textile Mill", seller="Xinjiang Cotton Cooperative",
                  clock=clock)
deal.prepare(by="buyer", note="market research")
deal.offer(by="seller", goods="cotton lint", quantity=200, price=Money("15800", "CNY"))
deal.arrive()
deal.counter_offer(by="buyer", goods="cotton lint", quantity=200, price=Money("15500", "CNY"))
deal.arrive()
try:
    deal.accept(by="buyer", actor="Suzhou Textile Mill", goods="cotton lint", quantity=200,
                price=Money("15500", "CNY"))
except GuardRejected as error:
    explain(error)
print("仍在 / still at:", where(deal), "— version", deal.version)
"""
        ),
        *lanes_cells(),
        exercises_heading(),
        *exercise(
            1,
            "**接受一个已经过期的发盘。** 卖方发盘，有效期 3 天；买方 5 天以后才接受。"
            "（提示：`clock.advance(timedelta(days=5))` 让时钟往前走。）",
            "**Accept a lapsed offer.** The seller's offer is valid for 3 days; the buyer accepts"
            " after 5. (Hint: `clock.advance(timedelta(days=5))` moves the clock.)",
            """
late_clock = ManualClock(datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc))
late = flow.start("B-3", buyer="Suzhou Textile Mill", seller="Xinjiang Cotton Cooperative",
                  clock=late_clock)
late.prepare(by="buyer", note="market research")
late.offer(by="seller", goods="cotton lint", quantity=200, price=Money("15800", "CNY"),
           valid_until=late_clock.now + timedelta(days=3))
late.arrive()
late_clock.advance(timedelta(days=5))
try:
    late.accept(by="buyer", actor="Suzhou Textile Mill", goods="cotton lint", quantity=200,
                price=Money("15800", "CNY"))
except GuardRejected as error:
    explain(error)
print("仍在 / still at:", where(late))
""",
        ),
        *exercise(
            2,
            "**货还没交给承运人就付款。** 合同约定凭单付款（`against_documents`），"
            "买方在卖方备货时就想付款。",
            "**Pay before the goods are with the carrier.** The contract says payment against"
            " documents, and the buyer pays while the seller is still stocking the goods.",
            """
early = flow.start("B-4", buyer="Suzhou Textile Mill", seller="Xinjiang Cotton Cooperative",
                   clock=clock)
early.prepare(by="buyer", note="market research")
early.offer(by="seller", goods="cotton lint", quantity=200, price=Money("15500", "CNY"))
early.arrive()
early.accept(by="buyer", actor="Suzhou Textile Mill", goods="cotton lint", quantity=200,
             price=Money("15500", "CNY"))
early.draw_up(terms=ContractTerms(
    rights_and_obligations="seller delivers; buyer pays", goods="cotton lint", quantity=200,
    price=Money("15500", "CNY"), delivery_place="Suzhou", delivery_date=date(2027, 1, 15),
    trade_method="CIF Suzhou", transport_method="rail", payment_terms="against_documents",
    breach_and_claims="claims with a survey report",
))
early.sign(by="buyer", actor="Suzhou Textile Mill")
early.sign(by="seller", actor="Xinjiang Cotton Cooperative")
early.complete_formalities(reference="export licence")
try:
    early.pay(actor="Suzhou Textile Mill", bank="ICBC Suzhou", amount=Money("3100000", "CNY"),
              reference="P-1")
except GuardRejected as error:
    explain(error)
print("仍在 / still at:", where(early))
""",
        ),
        *exercise(
            3,
            "**没签合同就发货。** 双方刚达成一致（接受），卖方就把货交给承运人。",
            "**Ship before the contract.** The parties have just agreed (accepted), and the seller"
            " hands the goods to a carrier.",
            """
rush = flow.start("B-5", buyer="Suzhou Textile Mill", seller="Xinjiang Cotton Cooperative",
                  clock=clock)
rush.prepare(by="buyer", note="market research")
rush.offer(by="seller", goods="cotton lint", quantity=200, price=Money("15500", "CNY"))
rush.arrive()
rush.accept(by="buyer", actor="Suzhou Textile Mill", goods="cotton lint", quantity=200,
            price=Money("15500", "CNY"))
try:
    rush.hand_to_carrier(carrier="China Railway Express", bill_of_lading="CR-1")
except TransitionNotAllowed as error:
    explain(error)
""",
        ),
    ]


NOTEBOOKS = {
    "direct_sale": direct_sale,
    "intermediary": intermediary,
    "operation": operation,
    "b2b": b2b,
}
"""Each notebook's file stem and the function that gives its cells."""

SEEDS = {
    "direct_sale": SEED_DIRECT,
    "intermediary": SEED_INTERMEDIARY,
    "operation": SEED_OPERATION,
    "b2b": SEED_B2B,
}
"""The seed's lines each notebook quotes."""

# -- building, running, saving ------------------------------------------------------------------


def build(stem: str) -> nbformat.NotebookNode:
    """Return notebook ``stem`` as made from its cells, not yet run (ids fixed, no outputs)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNEL), "language_info": {"name": "python"}}
    for index, (kind, source, metadata) in enumerate(NOTEBOOKS[stem]()):
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(source)
        else:
            cell = nbformat.v4.new_code_cell(source)
        cell.metadata = nbformat.from_dict(metadata)
        cell.id = f"{stem.replace('_', '-')}-{index:02d}"
        nb.cells.append(cell)
    return nb


def execute(nb: nbformat.NotebookNode, cwd: Path = HERE) -> nbformat.NotebookNode:
    """Run ``nb`` in a fresh ``python3`` kernel in ``cwd``; raise on the first error output."""
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=TIMEOUT,
        resources={"metadata": {"path": str(cwd)}},
        record_timing=False,
        coalesce_streams=True,  # one output per stream and cell, however the kernel flushed it
    )
    client.execute()
    # What the kernel reports of itself (its Python's version) churns from machine to machine.
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["kernelspec"] = dict(KERNEL)
    return nb


def seed_lines() -> set[str] | None:
    """Return the lines of the seed text, where its file is beside the project (else None)."""
    for folder in (ROOT / "shared" / "seeds", ROOT.parent / "shared" / "seeds"):
        files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
        if files:
            return {line.strip() for path in files for line in path.read_text("utf-8").splitlines()}
    return None


def main(argv: Iterable[str]) -> None:
    """Build, run and save the notebooks named in ``argv`` (all of them by default)."""
    stems = list(argv) or list(NOTEBOOKS)
    # The kernel imports this checkout's ecomflow, installed or not.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    seed = seed_lines()
    for stem in stems:
        if seed is not None:
            missing = [line for line in SEEDS[stem] if line not in seed]
            assert not missing, f"{stem}: not the seed's text: {missing}"
        nb = execute(build(stem))
        nbformat.validate(nb)
        path = HERE / f"{stem}.ipynb"
        nbformat.write(nb, path)
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main(sys.argv[1:])
