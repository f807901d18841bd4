"""A review project end to end in a real browser (Debian's Chromium driven by Playwright) against
a real ``datamill annotate serve`` — on SQLite, and on PostgreSQL too when
``DATAMILL_TEST_POSTGRES=1`` (see conftest.py).

An admin creates the people and two projects from the shared LLaMA-Factory preference file
(``rate_and_rank`` from an upload, ``write_better_answer`` from a server path); two annotators
log in, rate, rank and rewrite; the reviewer rejects one task, its annotator reworks it, the
reviewer accepts (and fixes one rewrite); the dashboard shows the agreement the answers imply;
the downloaded exports hold the expected records and feed ``datamill.post.formats``'
converters. Screenshots of the main pages go to ``docs/screenshots/`` (SQLite run).
"""

from __future__ import annotations

import json
import re

import pytest

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright").expect

# generous: on a fresh machine the set-up first installs Chromium and PostgreSQL with apt-get
pytestmark = [pytest.mark.browser, pytest.mark.timeout(1800)]

N_ITEMS = 6          # rate-and-rank items (the first rows of dpo_en_demo.json)
N_REWRITE = 2        # write-a-better-answer items
PEOPLE = {"ann1": "annotator", "ann2": "annotator", "rev1": "reviewer"}
PASSWORDS = {"ann1": "ann1-browser-pass", "ann2": "ann2-browser-pass",
             "rev1": "rev1-browser-pass"}
ROLES = {"admin": "admin", **PEOPLE}
CRITERIA = ("accuracy", "safety", "helpfulness")
# per annotator, per item: (ratings of the chosen response, ratings of the rejected one)
RATINGS = {
    "ann1": [((5, 5, 5), (2, 4, 2)), ((4, 5, 4), (2, 5, 2)), ((5, 5, 4), (3, 5, 2)),
             ((5, 5, 5), (1, 4, 1)), ((4, 5, 5), (2, 4, 3)), ((5, 5, 5), (3, 5, 3))],
    "ann2": [((5, 5, 4), (2, 5, 2)), ((4, 5, 5), (3, 5, 2)), ((5, 4, 4), (2, 5, 2)),
             ((4, 5, 5), (2, 4, 1)), ((5, 5, 5), (2, 4, 2)), ((4, 5, 4), (3, 5, 2))],
}
REJECT_COMMENT = "The weaker response does not answer the question: its helpfulness should be 1. Please fix."
REWORK_ITEM = 0      # ann1's answer on this item is sent back once


def norm(text: str) -> str:
    return " ".join(text.split())


def go(page, testid: str) -> None:
    """Click a control that submits a form or follows a link, and wait for the next page."""
    with page.expect_navigation():
        page.get_by_test_id(testid).click()
    no_error(page)


def no_error(page) -> None:
    status = page.get_by_test_id("error-status")
    if status.count():
        raise AssertionError(f"{page.url}: {status.inner_text()}: {page.get_by_test_id('error-detail').inner_text()}")
    err = page.get_by_test_id("error")
    if err.count():
        raise AssertionError(f"{page.url}: form error: {err.inner_text()}")


def login(page, user: str, shot=None) -> None:
    page.goto("/login")
    page.get_by_test_id("login-username").fill(user)
    page.get_by_test_id("login-password").fill(PASSWORDS[user])
    if shot:
        shot(page, "login")
    go(page, "login-submit")
    expect(page.get_by_test_id("nav-user")).to_have_text(f"{user} ({ROLES[user]})")


def source_rows(path) -> list[dict]:
    """The LLaMA-Factory rows as (prompt, chosen, rejected) texts."""
    rows = json.loads(path.read_text())
    return [{"prompt": r["conversations"][-1]["value"], "chosen": r["chosen"]["value"],
             "rejected": r["rejected"]["value"]} for r in rows]


def shown_item(page, rows: list[dict]) -> tuple[int, dict[str, int]]:
    """Which source row the task shows, and the display position of its chosen/rejected response
    (the order is shuffled per item and not shown to annotators)."""
    prompt = norm(page.get_by_test_id("task-prompt").inner_text())
    idx = [i for i, r in enumerate(rows) if norm(r["prompt"])[:120] in prompt]
    assert len(idx) == 1, f"cannot tell the item from its prompt: {prompt[:200]}"
    row = rows[idx[0]]
    pos = {}
    for i in range(2):
        text = norm(page.get_by_test_id(f"response-{i}").inner_text())
        for side in ("chosen", "rejected"):
            if norm(row[side])[:120] in text:
                pos[side] = i
    assert sorted(pos.values()) == [0, 1], pos
    return idx[0], pos


def fill_rate_rank(page, pos: dict[str, int], chosen: tuple, rejected: tuple, comment: str = "") -> None:
    for side, vals in (("chosen", chosen), ("rejected", rejected)):
        for c, v in zip(CRITERIA, vals):
            page.get_by_test_id(f"q-ratings-{pos[side]}-{c}").select_option(str(v))
    page.get_by_test_id(f"q-ranking-rank-{pos['chosen']}").select_option("1")
    page.get_by_test_id(f"q-ranking-rank-{pos['rejected']}").select_option("2")
    if comment:
        page.get_by_test_id("q-comment-text").fill(comment)


def scroll_to(page, testid: str | None) -> None:
    """Scroll the page to its top, or so that ``testid`` starts at the top (for screenshots)."""
    if testid is None:
        page.evaluate("window.scrollTo(0, 0)")
    else:
        page.get_by_test_id(testid).evaluate("e => e.scrollIntoView({block: 'start'})")


def task_id(page) -> int:
    m = re.search(r"/tasks/(\d+)", page.url)
    assert m, page.url
    return int(m.group(1))


def annotate_rate_rank(page, pid: int, user: str, rows: list[dict], shot=None) -> dict[int, int]:
    """Start annotating and answer every task with Submit and next; ``{item index: task id}``."""
    page.goto(f"/projects/{pid}")
    expect(page.get_by_test_id("remaining")).to_have_text(f"{N_ITEMS} new task(s) available")
    go(page, "start-annotating")
    tasks: dict[int, int] = {}
    while "/tasks/" in page.url:
        expect(page.get_by_test_id("task-status")).to_have_text("locked")
        i, pos = shown_item(page, rows)
        assert i not in tasks, f"{user} was given item {i} twice"
        tasks[i] = task_id(page)
        chosen, rejected = RATINGS[user][i]
        fill_rate_rank(page, pos, chosen, rejected, comment=f"{user}: item {i}")
        if shot and len(tasks) == 1:
            scroll_to(page, None)
            shot(page, "annotate-task")
            scroll_to(page, "question-ratings")
            shot(page, "annotate-task-form")
        go(page, "task-submit-next")
    expect(page.get_by_test_id("flash")).to_have_text("No tasks left for you in this project.")
    assert sorted(tasks) == list(range(N_ITEMS))
    return tasks


def review_all(page, pid: int, decide=None) -> int:
    """Accept every task in the review queue (``decide(page, task_id)`` may act instead and
    return True). Returns how many decisions were made."""
    n = 0
    page.goto(f"/projects/{pid}/review")
    while page.get_by_test_id("review-empty").count() == 0:
        link = page.locator("[data-testid^=review-link-]").first
        tid = int(link.get_attribute("data-testid").rsplit("-", 1)[1])
        with page.expect_navigation():
            link.click()
        no_error(page)
        expect(page.get_by_test_id("review-status")).to_have_text("submitted")
        if not (decide and decide(page, tid)):
            go(page, "review-accept")
        expect(page.get_by_test_id("flash")).to_have_text("Decision saved.")
        n += 1
    return n


def expected_alpha(final: dict[str, list[tuple[tuple, tuple]]]) -> dict[str, float]:
    """Krippendorff's α per dashboard question, computed here from the answers the test gave."""
    from datamill.annotate.agreement import krippendorff_alpha

    out = {}
    for ci, c in enumerate(CRITERIA):
        triples = [((i, side), user, vals[si][ci]) for user, items in final.items() for i, vals in enumerate(items)
                   for si, side in enumerate(("chosen", "rejected"))]
        out[f"ratings.{c}"] = krippendorff_alpha(triples, level="ordinal")
    return out


@pytest.fixture
def preference_file(shared_data, tmp_path):
    """The first rows of the shared LLaMA-Factory DPO demo file, as a file of its own."""
    src = shared_data / "preference" / "llamafactory" / "dpo_en_demo.json"
    if not src.exists():
        pytest.skip(f"{src} not found")
    rows = json.loads(src.read_text())[:N_ITEMS]
    path = tmp_path / "dpo_en_demo_first6.json"
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=1))
    return path


def test_review_project_end_to_end(app_server, new_page, screenshot, preference_file, tmp_path):
    from datamill.post.formats import convert, read_records

    rows = source_rows(preference_file)
    PASSWORDS["admin"] = app_server.admin_password
    rewrite_file = app_server.data_dir / "better_answers.json"  # a server-side path under --data-root
    rewrite_file.write_text(json.dumps(json.loads(preference_file.read_text())[:N_REWRITE]))

    # -- the admin: people and two projects ---------------------------------------------------
    admin = new_page()
    login(admin, "admin", shot=screenshot)
    go(admin, "nav-admin-users")
    for name, role in PEOPLE.items():
        admin.get_by_test_id("new-username").fill(name)
        admin.get_by_test_id("new-password").fill(PASSWORDS[name])
        admin.get_by_test_id("new-role").select_option(role)
        go(admin, "user-create-submit")
        expect(admin.get_by_test_id("flash")).to_have_text("Created.")
        expect(admin.get_by_test_id(f"user-role-{name}")).to_have_value(role)

    go(admin, "nav-admin-new-project")
    admin.get_by_test_id("project-name").fill("DPO review round 1")
    admin.get_by_test_id("project-description").fill("Rate and rank the two answers of each prompt.")
    admin.get_by_test_id("project-template").select_option("rate_and_rank")
    admin.get_by_test_id("project-overlap").fill("2")
    admin.get_by_test_id("project-rounds").fill("2")
    admin.get_by_test_id("project-lock").fill("30")
    admin.get_by_test_id("project-file").set_input_files(str(preference_file))
    admin.get_by_test_id("project-annotators").fill("ann1, ann2")
    admin.get_by_test_id("project-reviewers").fill("rev1")
    screenshot(admin, "admin-new-project")
    go(admin, "project-create")
    expect(admin.get_by_test_id("flash")).to_have_text("Created.")
    expect(admin.get_by_test_id("project-items")).to_have_text(str(N_ITEMS))
    pid = int(re.search(r"/admin/projects/(\d+)", admin.url).group(1))

    go(admin, "nav-admin-new-project")
    admin.get_by_test_id("project-name").fill("Better answers")
    admin.get_by_test_id("project-template").select_option("write_better_answer")
    admin.get_by_test_id("project-overlap").fill("1")
    admin.get_by_test_id("project-rounds").fill("1")
    admin.get_by_test_id("project-path").fill(str(rewrite_file))
    admin.get_by_test_id("project-annotators").fill("ann1,ann2")
    admin.get_by_test_id("project-reviewers").fill("rev1")
    go(admin, "project-create")
    expect(admin.get_by_test_id("project-items")).to_have_text(str(N_REWRITE))
    pid2 = int(re.search(r"/admin/projects/(\d+)", admin.url).group(1))

    # -- two annotators rate and rank -----------------------------------------------------------
    ann = {u: new_page() for u in ("ann1", "ann2")}
    login(ann["ann1"], "ann1")
    expect(ann["ann1"].get_by_test_id(f"project-row-{pid}")).to_be_visible()
    expect(ann["ann1"].get_by_test_id(f"project-row-{pid2}")).to_be_visible()
    screenshot(ann["ann1"], "projects")
    tasks = {"ann1": annotate_rate_rank(ann["ann1"], pid, "ann1", rows, shot=screenshot)}
    login(ann["ann2"], "ann2")
    tasks["ann2"] = annotate_rate_rank(ann["ann2"], pid, "ann2", rows)

    # nobody sees another person's task, annotators see no admin page
    ann["ann2"].goto(f"/tasks/{tasks['ann1'][0]}")
    expect(ann["ann2"].get_by_test_id("error-status")).to_have_text("Error 404")
    ann["ann1"].goto("/admin/users")
    expect(ann["ann1"].get_by_test_id("error-status")).to_have_text("Error 403")

    # ... and write better answers (one item each: overlap 1)
    rewrites = {}
    for user in ("ann1", "ann2"):
        page = ann[user]
        page.goto(f"/projects/{pid2}")
        go(page, "start-annotating")
        i, pos = shown_item(page, rows)
        shown_a = rows[i]["chosen"] if pos["chosen"] == 0 else rows[i]["rejected"]
        box = page.get_by_test_id("q-rewrite-text")
        assert norm(box.input_value()) == norm(shown_a)  # prefilled from response A
        rewrites[i] = (user, f"A better answer to item {i}, written by {user}.\nIt keeps what was right.")
        box.fill(rewrites[i][1])
        page.get_by_test_id(f"q-ratings-{pos['chosen']}-accuracy").select_option("4")
        go(page, "task-submit")
        expect(page.get_by_test_id("flash")).to_have_text("Answer saved.")
    assert sorted(rewrites) == list(range(N_REWRITE))

    # -- the reviewer rejects one task, accepts the rest ----------------------------------------
    rev = new_page()
    login(rev, "rev1")
    rework_tid = tasks["ann1"][REWORK_ITEM]
    rev.goto(f"/projects/{pid}/review")
    expect(rev.locator("[data-testid^=review-row-]")).to_have_count(2 * N_ITEMS)
    go(rev, f"review-link-{rework_tid}")
    expect(rev.get_by_test_id("review-annotator")).to_have_text("ann1")
    scroll_to(rev, None)
    screenshot(rev, "review")
    rev.get_by_test_id("review-comment").fill(REJECT_COMMENT)
    go(rev, "review-reject")
    expect(rev.get_by_test_id("flash")).to_have_text("Decision saved.")
    assert review_all(rev, pid) == 2 * N_ITEMS - 1

    # -- its annotator reworks it ---------------------------------------------------------------
    page = ann["ann1"]
    page.goto(f"/projects/{pid}")
    expect(page.get_by_test_id(f"task-status-{rework_tid}")).to_have_text("rework")
    go(page, "start-annotating")  # rework comes first
    assert task_id(page) == rework_tid
    expect(page.get_by_test_id("task-status")).to_have_text("rework")
    expect(page.get_by_test_id("rework-comment")).to_contain_text(REJECT_COMMENT)
    i, pos = shown_item(page, rows)
    assert i == REWORK_ITEM
    # the form shows the answer given before; only the asked-for change is made
    chosen, rejected = RATINGS["ann1"][i]
    expect(page.get_by_test_id(f"q-ratings-{pos['rejected']}-helpfulness")).to_have_value(str(rejected[2]))
    expect(page.get_by_test_id(f"q-ranking-rank-{pos['chosen']}")).to_have_value("1")
    page.get_by_test_id(f"q-ratings-{pos['rejected']}-helpfulness").select_option("1")
    page.get_by_test_id("q-comment-text").fill("ann1: item 0, helpfulness of B fixed")
    scroll_to(page, None)
    screenshot(page, "rework")
    go(page, "task-submit")
    expect(page.get_by_test_id("flash")).to_have_text("Answer saved.")
    RATINGS_FINAL = {u: list(v) for u, v in RATINGS.items()}
    RATINGS_FINAL["ann1"][REWORK_ITEM] = (chosen, (rejected[0], rejected[1], 1))

    # -- the reviewer accepts the rework; the history shows both rounds -------------------------
    def check_history(p, tid):
        assert tid == rework_tid
        expect(p.get_by_test_id("review-history").locator("li")).to_have_count(3)
        expect(p.get_by_test_id("history-decision-1")).to_have_text("reject")
        scroll_to(p, "review-history")
        screenshot(p, "review-history")
        return False  # then accept

    assert review_all(rev, pid, decide=check_history) == 1

    # the rewrites: accept one, fix and accept the other
    fixed_text = "Fixed by the reviewer: a short, correct and complete answer."

    def fix_one(p, tid):
        if p.get_by_test_id("review-annotator").inner_text() != "ann2":
            return False
        p.get_by_test_id("q-rewrite-text").fill(fixed_text)
        go(p, "review-fix")
        return True

    assert review_all(rev, pid2, decide=fix_one) == N_REWRITE

    # -- the dashboard: progress and agreement --------------------------------------------------
    rev.goto(f"/projects/{pid}")
    go(rev, "dashboard-link")
    expect(rev.get_by_test_id("progress-complete")).to_have_text(str(N_ITEMS))
    expect(rev.get_by_test_id("progress-items")).to_have_text(str(N_ITEMS))
    expect(rev.get_by_test_id("progress-percent")).to_have_text(re.compile(r"^100(\.0+)?$"))
    expect(rev.get_by_test_id("tasks-accepted")).to_have_text(str(2 * N_ITEMS))
    for user in ("ann1", "ann2"):
        expect(rev.get_by_test_id(f"annotator-row-{user}")).to_be_visible()
    expect(rev.get_by_test_id("agreement-table")).to_be_visible()
    # both ranked the chosen response first everywhere: full agreement on the ranking
    expect(rev.get_by_test_id("alpha-ranking")).to_have_text("1.000")
    for q, alpha in expected_alpha(RATINGS_FINAL).items():
        expect(rev.get_by_test_id(f"alpha-{q}")).to_have_text(f"{alpha:.3f}")
    expect(rev.get_by_test_id("agreement-row-ratings.helpfulness")).to_contain_text("ordinal")
    api = rev.request.get(f"/api/projects/{pid}/dashboard").json()
    assert api["progress"]["complete"] == N_ITEMS
    assert api["agreement"]["questions"]["ranking"]["krippendorff_alpha"] == pytest.approx(1.0)
    screenshot(rev, "dashboard")

    # -- the admin downloads the exports ----------------------------------------------------------
    def download(pid_, kind):
        admin.goto(f"/admin/projects/{pid_}")
        with admin.expect_download() as dl:
            admin.get_by_test_id(f"export-{kind}").click()
        path = tmp_path / f"export-{pid_}-{kind}.jsonl"
        dl.value.save_as(path)
        return path

    pref_path = download(pid, "preference")
    prefs = list(read_records(str(pref_path)))
    assert len(prefs) == N_ITEMS and {r["kind"] for r in prefs} == {"preference"}
    by_prompt = {norm(r["prompt"]): i for i, r in enumerate(rows)}
    seen = set()
    for rec in prefs:
        i = by_prompt[norm(rec["messages"][-1]["content"])]
        seen.add(i)
        # the chosen response is the one both annotators ranked first
        assert rec["chosen"][-1]["content"] == rows[i]["chosen"]
        assert rec["rejected"][-1]["content"] == rows[i]["rejected"]
        prov = rec["metadata"]["annotation"]
        assert prov["project"] == "DPO review round 1"
        people = {a["user"]: a for a in prov["annotators"]}
        assert set(people) == {"ann1", "ann2"}
        assert {a["reviewer"] for a in prov["annotators"]} == {"rev1"}
        assert {a["decision"] for a in prov["annotators"]} == {"accept"}
        assert people["ann1"]["round"] == (2 if i == REWORK_ITEM else 1)
        assert people["ann2"]["round"] == 1
        mean_chosen = [(RATINGS_FINAL["ann1"][i][0][k] + RATINGS_FINAL["ann2"][i][0][k]) / 2 for k in range(3)]
        assert rec["ratings"] == pytest.approx(dict(zip(CRITERIA, mean_chosen)))
        assert prov["agreement"]["ranking"] == pytest.approx(1.0)
    assert seen == set(range(N_ITEMS))

    ranked = list(read_records(str(download(pid, "ranking"))))
    assert len(ranked) == N_ITEMS and all(r["kind"] == "ranking" for r in ranked)
    for rec in ranked:
        best = min(rec["responses"], key=lambda r: r["rank"])
        i = by_prompt[norm(rec["messages"][-1]["content"])]
        assert best["messages"][-1]["content"] == rows[i]["chosen"]

    sft = list(read_records(str(download(pid2, "sft"))))
    assert len(sft) == N_REWRITE and {r["kind"] for r in sft} == {"sft"}
    for rec in sft:
        i = by_prompt[norm([m for m in rec["messages"] if m["role"] == "user"][-1]["content"])]
        user, text = rewrites[i]
        assert rec["messages"][-1]["role"] == "assistant"
        want = fixed_text if user == "ann2" else text
        assert rec["messages"][-1]["content"] == want
        assert rec["metadata"]["annotation"]["annotators"][0]["decision"] == ("fix" if user == "ann2" else "accept")

    # -- the export feeds the post-training converters --------------------------------------------
    for fmt in ("trl", "sharegpt", "openai"):
        out = tmp_path / f"pairs-{fmt}.jsonl"
        report = convert(str(pref_path), str(out), to=fmt)
        assert report["read"] == N_ITEMS and report["written"] == N_ITEMS, report
        back = list(read_records(str(out), fmt))
        assert sorted(r["chosen"][-1]["content"] for r in back) == sorted(r["chosen"][-1]["content"] for r in prefs)
    out = tmp_path / "sft-alpaca.json"
    report = convert(str(pref_path.with_name(f"export-{pid2}-sft.jsonl")), str(out), to="alpaca")
    assert report["written"] == N_REWRITE, report
    assert {r["messages"][-1]["content"] for r in read_records(str(out), "alpaca")} == {
        r["messages"][-1]["content"] for r in sft}

    # -- logging out ends the session -------------------------------------------------------------
    go(ann["ann2"], "logout-button")
    expect(ann["ann2"].get_by_test_id("flash")).to_have_text("You are logged out.")
    ann["ann2"].goto(f"/projects/{pid}")
    assert "/login" in ann["ann2"].url
