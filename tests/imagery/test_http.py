"""The providers' requests: bounded retries, a 404 as an answer, one line otherwise."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from stacgen.imagery import http
from stacgen.imagery.http import Unreachable, get_json


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "BACKOFF_S", 0.0)


def test_a_passing_failure_is_tried_again(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/x").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/x").respond_with_json({"ok": True})
    assert get_json("gcs", httpserver.url_for("/x"), 5) == {"ok": True}


def test_retries_are_bounded(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_data("busy", status=503)
    with pytest.raises(Unreachable, match=r"^gcs: http://.*/x answered HTTP 503$"):
        get_json("gcs", httpserver.url_for("/x"), 5)
    assert len(httpserver.log) == http.RETRIES + 1


def test_not_found_is_an_answer_and_other_errors_are_not_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/none").respond_with_data("no", status=404)
    httpserver.expect_request("/bad").respond_with_data("no", status=400)
    httpserver.expect_request("/text").respond_with_data("<html>")
    assert get_json("cdse", httpserver.url_for("/none"), 5) is None
    with pytest.raises(Unreachable, match="answered HTTP 400"):
        get_json("cdse", httpserver.url_for("/bad"), 5)
    with pytest.raises(Unreachable, match=r"answered malformed JSON \(Expecting value"):
        get_json("cdse", httpserver.url_for("/text"), 5)
    assert len(httpserver.log) == 3


def test_a_server_that_does_not_answer_is_cut_at_the_timeout(httpserver: HTTPServer) -> None:
    import time

    from werkzeug import Request, Response

    def slow(request: Request) -> Response:
        time.sleep(1.5)
        return Response("{}")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    with pytest.raises(Unreachable, match="no answer within the timeout"):
        get_json("earth-search", httpserver.url_for("/slow"), 0.3)


def test_an_answer_that_is_not_a_json_object_is_one_line(httpserver: HTTPServer) -> None:
    # The check a JSON file gets too (fileutil.json_object): a list, or nesting past the
    # parser's recursion, is the provider's bad answer, not a traceback.
    httpserver.expect_request("/list").respond_with_data("[1, 2]")
    httpserver.expect_request("/deep").respond_with_data("[" * 100_000 + "]" * 100_000)
    with pytest.raises(Unreachable, match=r"/list answered malformed JSON \(expected an object\)$"):
        get_json("cdse", httpserver.url_for("/list"), 5)
    with pytest.raises(Unreachable, match=r"/deep answered malformed JSON \(nested too deep\)$"):
        get_json("cdse", httpserver.url_for("/deep"), 5)
