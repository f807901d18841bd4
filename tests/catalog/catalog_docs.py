"""A small real run to register: English and Chinese documents, short and long, through
language ID and Gopher's quality rules (signals stored per the agreed layout)."""

import random

import orjson

EN = [
    "The city council met on Tuesday to discuss the new budget for the public library and the parks.",
    "Scientists have found that the river water is cleaner now than it was ten years ago.",
    "She said that the team would travel to the coast in the spring to study the birds there.",
    "Most of the students in the class were able to finish the project before the end of the term.",
    "It is important to keep a record of where each piece of data came from and how it was changed.",
    "The museum will open a new exhibition about the history of the railway in this region.",
    "After the storm, many of the roads were closed and the workers cleared the fallen trees.",
    "He thinks that the best way to learn a language is to speak it with friends every day.",
]
ZH = [
    "市议会周二开会讨论了公共图书馆和公园的新预算。",
    "科学家发现，这条河的水比十年前干净多了。",
    "她说球队将在春天去海边研究那里的鸟类。",
    "班上大多数学生在学期结束前完成了这个项目。",
    "记录每一份数据的来源以及它是如何被修改的非常重要。",
    "博物馆将举办一个关于本地区铁路历史的新展览。",
    "暴风雨过后，许多道路被封闭，工人们清理了倒下的树木。",
    "他认为学习语言最好的方法是每天和朋友们一起说。",
]

RECIPE = """name: catalog-test
steps:
  - language_id: {languages: [en, zh], min_score: 0.3}
  - gopher_quality: {}
output: {format: jsonl, compression: gz}
"""


def write_docs(path, n=120, seed=0, start=0):
    rng = random.Random(seed)
    with open(path, "wb") as fh:
        for i in range(start, start + n):
            zh = i % 3 == 0
            pool = ZH if zh else EN
            k = rng.choice([6, 12, 40]) if not zh else rng.choice([8, 20, 60])  # short and long
            text = ("" if zh else " ").join(rng.choice(pool) for _ in range(k))
            fh.write(orjson.dumps({"id": f"doc-{i}", "text": text, "url": f"https://site{i % 5}.example/{i}"}) + b"\n")
    return path

