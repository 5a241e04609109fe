from tenantctl.textproc import estimate_tokens, fts_body, fts_query, has_cjk, segment_cjk, split_sentences


def test_cjk_runs_become_bigrams():
    assert segment_cjk("手机银行").split() == ["手机", "机银", "银行"]
    assert segment_cjk("限额 5 万元").split() == ["限额", "5", "万元"]
    assert has_cjk("abc 银") and not has_cjk("abc")


def test_fts_query_quotes_terms_and_drops_stopwords():
    assert fts_query("What is the E-417 code?") == '"e" OR "417" OR "code"'
    assert fts_query('a "quoted" OR thing') == '"quoted" OR "thing"'
    assert fts_query("the") == '"the"'  # only stopwords: keep them rather than search nothing
    assert fts_query("!!!") == ""


def test_a_chinese_query_s_question_words_are_no_keywords():
    """"多少" of "X5 多少钱？" matched every FAQ heading asking "…是多少？" before the price list."""
    assert fts_query("CloudSail X5 多少钱？") == '"cloudsail" OR "x5" OR "钱"'
    assert fts_query("谁？") == '"谁"'  # a question of question words only keeps them


def test_fts_body_includes_heading_and_segments_cjk():
    assert fts_body("", "plain text") == "plain text"
    body = fts_body("转账限额", "单笔")
    assert "转账 账限 限额" in body and "单笔" in body


def test_estimate_tokens_counts_cjk_per_character():
    assert estimate_tokens("华信银行") == 4
    assert 20 <= estimate_tokens("x" * 100) <= 26


def test_split_sentences_latin_and_cjk():
    assert split_sentences("One. Two! Three?") == ["One.", "Two!", "Three?"]
    assert split_sentences("第一句。第二句。") == ["第一句。", "第二句。"]
