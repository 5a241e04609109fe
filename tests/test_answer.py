"""Answer post-processing: unit tests with a fake generator (fast, no model)."""

from tenantctl.answering.answer import _cite, check_answer, fit_passages

PASSAGES = [
    "Employees accrue 23 days of paid annual leave per calendar year. Up to 5 days carry over.",
    "Employees receive 10 days of paid sick leave per year. A doctor's note is required after 3 days.",
]


def test_supported_answer_is_kept_and_cited():
    text, cited = check_answer(" Employees accrue 23 days of paid annual leave per year.", PASSAGES)
    assert text == "Employees accrue 23 days of paid annual leave per year [1]."
    assert cited == [1]


def test_invented_number_is_rejected():
    assert check_answer(" Employees accrue 16 weeks of paid annual leave per year.", PASSAGES) == ("", [])


def test_number_from_an_unrelated_sentence_is_rejected():
    # 10 appears in the passages, but not in a sentence about annual leave accrual
    assert check_answer("Employees accrue 10 days of paid annual leave per calendar year.", PASSAGES)[0] == ""


def test_citation_to_a_missing_passage_is_never_kept():
    text, cited = check_answer("Employees receive 10 days of paid sick leave per year [7].", PASSAGES)
    assert "[7]" not in text and cited == [2] and text.endswith("[2].")


def test_wrong_citation_is_corrected_to_the_supporting_passage():
    text, cited = check_answer("Employees receive 10 days of paid sick leave per year [1].", PASSAGES)
    assert cited == [2]


def test_refusal_and_empty_output_are_unusable():
    assert check_answer("", PASSAGES) == ("", [])
    assert check_answer("The passages do not mention this.", PASSAGES) == ("", [])


def test_unsupported_second_sentence_is_cut():
    raw = "Employees accrue 23 days of paid annual leave per calendar year. The office has a rooftop pool."
    text, _ = check_answer(raw, PASSAGES)
    assert "pool" not in text and text.startswith("Employees accrue 23 days")


def test_chinese_answer_supported_by_bigrams():
    passages = ["使用短信验证码认证时，单笔手机银行转账限额为 5 万元，日累计限额为 20 万元。"]
    text, cited = check_answer("单笔手机银行转账限额为 5 万元。", passages)
    assert cited == [1] and text == "单笔手机银行转账限额为 5 万元 [1]。"
    assert check_answer("单笔限额为 5000 元。", passages) == ("", [])


def test_cite_places_marker_before_the_stop():
    assert _cite("It is 5.", 2) == "It is 5 [2]."
    assert _cite("400-966-0519", 1) == "400-966-0519 [1]"


def test_fit_passages_drops_then_trims_to_budget():
    texts = ["a " * 100, "b " * 100, "c " * 100]

    def build(ts):
        return "\n".join(ts)

    def count(s):
        return len(s.split())

    assert len(fit_passages(build, texts, 1000, count)) == 3
    assert len(fit_passages(build, texts, 250, count)) == 2
    kept = fit_passages(build, texts, 60, count)
    assert len(kept) == 1 and count(build(kept)) <= 60 and kept[0].endswith("…")
