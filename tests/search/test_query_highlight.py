"""Highlighting: whole words by stem, phrases whole, never stop words or word prefixes."""

from __future__ import annotations

from pathlib import Path

from paperfeed.search.highlight import spans, stem, terms
from paperfeed.web.views import rich_text


def marked(text: str, query: str) -> list[str]:
    return [piece for piece, hit in spans(text, terms(query)) if hit]


def test_a_question_marks_only_its_content_words() -> None:
    query = "what is a good way to distill a dataset"
    assert terms(query) == ["good", "way", "distill", "dataset"]
    text = (
        "Attention is all an agent needs: a good way in datasets is Distillation, "
        "and distilled data in a dataset works well."
    )
    assert marked(text, query) == ["good", "way", "datasets", "Distillation", "distilled",
                                   "dataset"]  # fmt: skip
    html = str(rich_text(text, terms(query)))
    assert "<mark>A" not in html and "<mark>a" not in html and "<mark>i" not in html
    assert html.startswith("Attention is all an agent")


def test_the_issue_question_marks_no_a_i_or_do() -> None:
    query = "how do I stop a language model from memorizing private data"
    assert terms(query) == ["stop", "language", "model", "memorizing", "private", "data"]
    text = "How do I do it? A model memorizes; Models memorization in an iterative dialogue."
    hits = marked(text, query)
    assert hits == ["model", "memorizes", "Models", "memorization"]


def test_stems_decide_model_marks_models_and_modeling_not_modelica() -> None:
    assert stem("models") == stem("modeling") == stem("model") == "model"
    assert marked("Models, modeling and Modelica; a remodel.", "model") == ["Models", "modeling"]


def test_whole_words_only_unicode_aware() -> None:
    assert marked("naïve Bayes, naive bayes, naïveté", "naïve") == ["naïve", "naive"]
    assert marked("über Über_x überall", "Über") == ["über", "Über"]
    assert marked("attention: attend", "at") == []  # a stop word, and no prefix


def test_a_phrase_is_marked_whole_and_only_whole() -> None:
    query = '"language models" memory'
    assert terms(query) == ["language models", "memory"]
    text = "Large Language-Model memory; a language of models; language models."
    assert marked(text, query) == ["Language-Model", "memory", "language models"]
    assert marked("state of the art and the art", '"state of the art"') == ["state of the art"]


def test_excluded_words_are_not_marked() -> None:
    assert terms('dropout -bayesian -"monte carlo"') == ["dropout"]


def test_hostile_text_stays_escaped_and_math_unmarked() -> None:
    text = '<script>alert("model")</script> & model <b>models</b> $model_i$'
    html = str(rich_text(text, terms("model")))
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&#34;<mark>model</mark>&#34;)&lt;/script&gt; &amp; " in html
    assert "&lt;b&gt;<mark>models</mark>&lt;/b&gt;" in html
    assert "<math" in html and html.count("<mark>") == 3
    # a query of markup marks nothing it should not and injects nothing
    html = str(rich_text("a <mark> b", terms("<mark>")))
    assert html == "a &lt;<mark>mark</mark>&gt; b"


def test_stems_are_the_keyword_index_stems(tmp_path: Path) -> None:
    from paperfeed.search.keyword import KeywordIndex

    index = KeywordIndex(tmp_path / "keyword")
    words = [
        "Datasets",
        "distillation",
        "Modeling",
        "memorizing",
        "Naïve",
        "studies",
        "ran",
        "running",
        "über",
        "GPT4",
    ]
    assert [stem(w) for w in words] == [t for w in words for t in index.text_analyzer.analyze(w)]
