"""Chinese texts of the errors a user meets: bad input and the store's refusals.

Each English message stays as it was (tests match it); these helpers build the
Chinese one beside it, with the same values interpolated, for ``EcomflowError.zh``.
"""

from __future__ import annotations

import re

from ._errors import EcomflowError, subject_zh

__all__ = [
    "describe_zh",
    "operation_zh",
    "payload_zh",
    "problem_zh",
    "sentence_subject_zh",
    "subject_of_zh",
    "what_zh",
]

# The Chinese of each reason a string may not be stored (see ecomflow._sensitive).
_PROBLEMS_ZH = {
    "looks like a full card number; pass a token or the last four digits instead": (
        "看起来是完整的银行卡号；请改传令牌（token）或卡号末四位"
    ),
    "holds a NUL byte": "含有 NUL 字节",
    "holds a lone surrogate: it is not valid Unicode text": (
        "含有孤立的代理字符：不是有效的 Unicode 文本"
    ),
    "may not be stored": "不能存储",
}


def problem_zh(problem: str) -> str:
    """Return the Chinese of why a string may not be stored (``problem`` in English)."""
    return _PROBLEMS_ZH.get(problem, f"不能存储（{problem}）")


def subject_of_zh(subject: tuple[str, str, str], flow: str) -> str:
    """Return the Chinese start of a message about ``(trigger, tx_id, state)`` of ``flow``."""
    trigger, tx_id, state = subject
    return subject_zh(trigger, tx_id, state, flow)


def describe_zh(error: BaseException) -> str:
    """Return a one-line Chinese description of ``error`` (a payload class's refusal).

    An ecomflow error with a Chinese message gives it; anything else (an error of a
    payload class's own) is quoted in its own words after a Chinese lead.
    """
    inner = getattr(error, "exceptions", None)  # an ExceptionGroup (cattrs)
    if inner:
        return describe_zh(inner[0])
    if isinstance(error, EcomflowError) and error.zh is not None:
        return error.zh
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"载荷无效（{text}）"


def payload_zh(subject: tuple[str, str, str], flow: str, problem: str) -> str:
    """Return the Chinese message of a refused payload: the subject, then ``problem``."""
    return f"{subject_of_zh(subject, flow)}：{problem.rstrip('。')}。"


# What check_text names, in Chinese; a name not listed is kept as it is.
_WHAT_ZH = {
    "transaction id": "交易 id",
    "idempotency key": "幂等键（idempotency key）",
    "projection name": "投影名称",
    "checkpoint name": "检查点名称",
    "deadline worker name": "期限处理进程（worker）名称",
    "actor of the deadline worker": "期限处理进程（worker）的执行者（actor）",
}
_WHAT_PATTERNS = (
    (re.compile(r"id of the (.+) transaction to start"), "要开始的 {0} 交易的 id"),
    (re.compile(r"row kind of projection (.+)"), "投影 {0} 的行类型"),
    (re.compile(r"row key of projection (.+)"), "投影 {0} 的行键"),
)


def what_zh(what: str) -> str:
    """Return the Chinese of ``what``, the name of a checked value (see ``check_text``)."""
    if what in _WHAT_ZH:
        return _WHAT_ZH[what]
    for pattern, text in _WHAT_PATTERNS:
        found = pattern.fullmatch(what)
        if found:
            return text.format(*found.groups())
    return what


_SUBJECTS = (
    (re.compile(r"Cannot start (\S+) transaction (.+)"), "无法开始 {0} 交易 {1}"),
    (
        re.compile(r"Cannot (\S+) transaction (.+) in state (.+)"),
        "无法对状态为 {2} 的交易 {1} 执行 {0}",
    ),
    (re.compile(r"Cannot (\S+) transaction (.+)"), "无法对交易 {1} 执行 {0}"),
)


def sentence_subject_zh(subject: str) -> str:
    """Return the Chinese of an English message start such as ``Cannot pay transaction 'o-1'``."""
    for pattern, text in _SUBJECTS:
        found = pattern.fullmatch(subject)
        if found:
            return text.format(*found.groups())
    return subject


# The Chinese of each operation a store error names ("Cannot {what} SQLite store ...").
_OPERATIONS_ZH = {
    "open": "打开",
    "create the tables of": "创建表于",
    "append to": "追加到",
    "write to": "写入",
    "read from": "读取",
    "find in": "查找于",
    "load from": "加载自",
    "read due deadlines from": "读取到期期限自",
    "check what was written to": "检查写入了什么到",
    "claim due deadlines in": "领取到期期限于",
    "save a checkpoint in": "保存检查点到",
    "save a projection in": "保存投影到",
    "reset a projection in": "重置投影于",
}


def operation_zh(what: str) -> str:
    """Return the Chinese of a store operation such as ``"append to"`` (else ``what``)."""
    return _OPERATIONS_ZH.get(what, what)
