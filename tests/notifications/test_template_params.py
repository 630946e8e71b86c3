from __future__ import annotations

import pytest

from notifications.template_params import (
    TemplateParameterError,
    template_components_build,
    template_preview_html,
    template_render,
)
from tests.notifications.conftest import ORDER_UPDATE_COMPONENTS, PROMO_COMPONENTS


def build(components, parameters, named=False):
    return template_components_build(components=components, parameters=parameters, named=named)


def test_positional_parameters_build_header_body_and_url_button():
    out, texts = build(
        ORDER_UPDATE_COMPONENTS,
        {"header": ["A-100"], "body": ["Ana", "A-100", "Monday"], "buttons": {"0": "A-100"}},
    )
    assert out == [
        {"type": "header", "parameters": [{"type": "text", "text": "A-100"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "A-100"},
                                        {"type": "text", "text": "Monday"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "A-100"}]},
    ]
    assert template_render(ORDER_UPDATE_COMPONENTS, texts).startswith("Order A-100\nHi Ana, your order A-100 ships on Monday.")


def test_wrong_body_count_names_the_component_and_counts():
    with pytest.raises(TemplateParameterError, match="body expects 3 parameter\\(s\\), got 2"):
        build(ORDER_UPDATE_COMPONENTS, {"header": ["A"], "body": ["Ana", "A-100"], "buttons": ["A"]})


def test_missing_header_parameter_is_refused():
    with pytest.raises(TemplateParameterError, match="header expects 1"):
        build(ORDER_UPDATE_COMPONENTS, {"body": ["Ana", "A-100", "Monday"], "buttons": ["A"]})


def test_missing_button_parameter_is_refused():
    with pytest.raises(TemplateParameterError, match="Button 0"):
        build(ORDER_UPDATE_COMPONENTS, {"header": ["A"], "body": ["Ana", "A-100", "Monday"]})


def test_parameters_for_a_template_without_placeholders_are_refused():
    with pytest.raises(TemplateParameterError, match="takes no parameters"):
        build([{"type": "BODY", "text": "No placeholders"}], ["extra"])


def test_named_parameters_map_by_name_with_parameter_name():
    out, texts = build(PROMO_COMPONENTS, {"first_name": "Ana", "discount": "20%"}, named=True)
    assert out == [{"type": "body", "parameters": [
        {"type": "text", "text": "Ana", "parameter_name": "first_name"},
        {"type": "text", "text": "20%", "parameter_name": "discount"},
    ]}]
    assert texts["body"] == {"first_name": "Ana", "discount": "20%"}


def test_named_parameters_unknown_or_missing_names_are_refused():
    with pytest.raises(TemplateParameterError, match="Unknown parameter\\(s\\) coupon"):
        build(PROMO_COMPONENTS, {"first_name": "Ana", "discount": "20%", "coupon": "X"}, named=True)
    with pytest.raises(TemplateParameterError, match="missing discount"):
        build(PROMO_COMPONENTS, {"first_name": "Ana"}, named=True)
    with pytest.raises(TemplateParameterError, match="named parameters"):
        build(PROMO_COMPONENTS, ["Ana", "20%"], named=True)


def test_text_with_newlines_or_empty_is_refused():
    with pytest.raises(TemplateParameterError, match="new lines"):
        build(PROMO_COMPONENTS, {"first_name": "Ana\nBob", "discount": "5"}, named=True)
    with pytest.raises(TemplateParameterError, match="empty"):
        build(PROMO_COMPONENTS, {"first_name": "  ", "discount": "5"}, named=True)


def test_typed_body_parameters_are_checked():
    components = [{"type": "BODY", "text": "Total {{1}} due {{2}}"}]
    currency = {"type": "currency", "currency": {"fallback_value": "$10.99", "code": "USD", "amount_1000": 10990}}
    date = {"type": "date_time", "date_time": {"fallback_value": "May 1"}}
    out, texts = build(components, [currency, date])
    assert out[0]["parameters"][0] == currency
    assert texts["body"] == {"1": "$10.99", "2": "May 1"}
    with pytest.raises(TemplateParameterError, match="type image"):
        build(components, [{"type": "image", "image": {"link": "https://x"}}, "May 1"])
    with pytest.raises(TemplateParameterError, match="currency needs"):
        build(components, [{"type": "currency", "currency": {"code": "USD"}}, "May 1"])


def test_image_header_takes_a_link():
    components = [{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Hi"}]
    out, _ = build(components, {"header": ["https://cdn.example/p.png"]})
    assert out == [{"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example/p.png"}}]}]
    with pytest.raises(TemplateParameterError, match="image"):
        build(components, {"header": [{"type": "text", "text": "no"}]})


def test_header_too_long_once_filled_is_refused():
    with pytest.raises(TemplateParameterError, match="header is"):
        build(ORDER_UPDATE_COMPONENTS, {"header": ["x" * 60], "body": ["a", "b", "c"], "buttons": ["1"]})


def test_preview_substitutes_samples_and_escapes_text():
    components = [
        {"type": "HEADER", "format": "TEXT", "text": "Hi <b>{{1}}</b>", "example": {"header_text": ["<script>"]}},
        {"type": "BODY", "text": "Code {{1}} for {{2}}", "example": {"body_text": [["123", "Ana & Bob"]]}},
        {"type": "FOOTER", "text": "Footer <i>"},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Yes <please>"}]},
    ]
    html = template_preview_html(components)
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "Hi &lt;b&gt;" in html
    assert "Code 123 for Ana &amp; Bob" in html
    assert "Footer &lt;i&gt;" in html and "Yes &lt;please&gt;" in html
