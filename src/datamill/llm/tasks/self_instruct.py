"""Self-instruct (Wang et al. 2022): prompts that ask for a new task from a few seed tasks, the
parser of the reply, and the paper's filters (keyword blocklist, length, punctuation start).

The prompt shows ``k`` tasks sampled from the pool, numbered, each as Instruction / Input /
Output, and asks for one more; Chinese seeds get the same prompt in Chinese (指令 / 输入 / 输出).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from datamill.llm.rouge import tokens

VERSION = "self_instruct/v1"

# Wang et al. 2022, section 2.3 (tasks a language model cannot do: images, files, acting)
BLOCKLIST = ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps",
             "draw", "plot", "go to", "video", "audio", "flowchart", "diagram")
BLOCKLIST_ZH = ("图片", "图像", "图表", "画出", "绘制", "文件", "地图", "视频", "音频", "流程图")

_HEADER = {
    "en": ("Come up with a new task. Here are {k} example tasks, each with an instruction, an "
           "optional input and an output:\n\n", "Instruction", "Input", "Output",
           "Now write task {n}: a different, new task in the same format."),
    "zh": ("请想出一个新的任务。下面是{k}个示例任务，每个都有指令、可选的输入和输出：\n\n", "指令", "输入", "输出",
           "现在请写出任务{n}：一个不同的新任务，格式相同。"),
}


@dataclass
class Task:
    instruction: str
    input: str = ""
    output: str = ""


def is_chinese(text: str) -> bool:
    han = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    return han >= max(2, len(text.replace(" ", "")) * 0.2)


def build_prompt(examples: list[Task], language: str = "en") -> str:
    head, ins, inp, out, tail = _HEADER["zh" if language == "zh" else "en"]
    parts = [head.format(k=len(examples))]
    for i, t in enumerate(examples, 1):
        parts.append(f"Task {i}\n{ins}: {t.instruction.strip()}\n")
        if t.input.strip():
            parts.append(f"{inp}: {t.input.strip()}\n")
        parts.append(f"{out}: {t.output.strip()}\n\n")
    parts.append(tail.format(n=len(examples) + 1) + f"\nTask {len(examples) + 1}\n{ins}:")
    return "".join(parts)


_LABELS = r"(?:instruction|input|output|指令|输入|输出)"
_FIELD = re.compile(rf"^\s*\**\s*({_LABELS})\s*\**\s*[:：]\s*", re.I | re.M)
_NAMES = {"instruction": "instruction", "指令": "instruction", "input": "input", "输入": "input",
          "output": "output", "输出": "output"}


def parse_reply(text: str) -> Task | None:
    """The first task in the reply; the prompt ends with "Instruction:" so the reply usually
    starts with the instruction itself. None when no instruction can be found."""
    text = re.sub(r"^(?:Task|任务)\s*\d+\s*[:：]?\s*\n", "", text.strip())
    text = re.split(r"\n\s*(?:Task|任务)\s*\d+", text)[0]
    fields: dict[str, str] = {}
    matches = list(_FIELD.finditer(text))
    first = matches[0].start() if matches else len(text)
    lead = text[:first].strip()
    if lead:
        fields["instruction"] = lead
    for m, nxt in zip(matches, matches[1:] + [None]):
        name = _NAMES[m.group(1).lower()]
        value = text[m.end(): nxt.start() if nxt else len(text)].strip()
        if name not in fields:
            fields[name] = value
    instruction = fields.get("instruction", "").strip()
    if not instruction:
        return None
    return Task(instruction, fields.get("input", "").strip(), fields.get("output", "").strip())


def rule_reason(task: Task, *, min_words: int = 3, max_words: int = 150,
                blocklist: tuple[str, ...] = BLOCKLIST + BLOCKLIST_ZH) -> str | None:
    """The paper's filters: None to keep, else the drop reason."""
    ins = task.instruction
    n = len(tokens(ins))
    zh = is_chinese(ins)
    if zh:
        n = max(1, n // 2)  # characters: about two per word
    if n <= min_words:
        return "too_short"
    if n > max_words:
        return "too_long"
    low = ins.lower()
    for word in blocklist:
        if (re.search(rf"\b{re.escape(word)}\b", low) if word.isascii() else word in ins):
            return "blocklist"
    if not ins[0].isalnum() and not zh:
        return "punctuation_start"
    if not task.output.strip():
        return "no_output"
    return None
