import math

from datamill.report.bias import load_terms, seat, term_association


def test_term_association_counts_and_pmi_english_and_chinese():
    docs = ["He is a doctor at the city hospital.", "She is a nurse and her mother was a nurse too.",
            "他是一名工程师。", "她是一名护士。", "The weather is fine today.", "今天天气很好。",
            "My father is an engineer.", "The woman works as a doctor."]
    r = term_association(docs)
    g = r["groups"]["gender"]
    assert g["male"]["documents"] == 3 and g["female"]["documents"] == 3
    # P(male, engineer) = 2/8, P(male) = 3/8, P(engineer) = 2/8 -> log2(2*8/(3*2))
    assert math.isclose(g["male"]["pmi"]["engineer"]["pmi"] if "engineer" in g["male"]["pmi"] else
                        g["male"]["pmi"]["工程师"]["pmi"], math.log2(1 * 8 / (3 * 1)))
    assert g["female"]["pmi"]["nurse"]["count"] == 1 and g["female"]["pmi"]["护士"]["count"] == 1
    assert "nurse" not in g["male"]["pmi"]


def test_seat_finds_a_planted_association_and_not_a_balanced_one():
    from report_helpers import hashing_embed

    terms = load_terms()
    career, family = terms["attributes"]["career"], terms["attributes"]["family"]
    planted = ([f"He talked about the {w} again." for w in career] * 2
               + [f"She talked about the {w} again." for w in family] * 2)
    r = seat(planted, hashing_embed, terms, permutations=300)[0]
    assert r["effect_size"] > 0.8 and r["p_value"] < 0.01
    balanced = ([f"He talked about the {w} again." for w in career + family]
                + [f"She talked about the {w} again." for w in career + family])
    r = seat(balanced, hashing_embed, terms, permutations=300)[0]
    assert abs(r["effect_size"]) < 0.5 and r["p_value"] > 0.05
    few = seat(["He works."], hashing_embed, terms)[0]
    assert "too few" in few["note"]
