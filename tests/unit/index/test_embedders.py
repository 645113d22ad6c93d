"""The default code embedder: deterministic, unit-length, and close for code about the same thing."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from aqe.index.embedders import HashingCodeEmbedder

PARSE_URL = "def parse_url(text):\n    return urlparse(text).hostname\n"
TEST_PARSE_URL = (
    "def test_parse_url_returns_the_host():\n    assert parse_url('http://example.com/a') == 'example.com'\n"
)
TEST_CART_TOTAL = (
    "def test_cart_total_sums_the_lines():\n    cart = Cart()\n    cart.add(Item('pen', 2))\n"
    "    assert cart.total() == 2\n"
)


@pytest.mark.parametrize("dim", [384, 512, 768, 1024])
def test_vectors_have_the_configured_dimension_and_unit_length(dim: int) -> None:
    vectors = HashingCodeEmbedder(dim).embed([PARSE_URL, TEST_PARSE_URL])

    assert vectors.shape == (2, dim)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_function_is_closer_to_its_own_test_than_to_an_unrelated_test() -> None:
    function, own_test, other_test = HashingCodeEmbedder(768).embed([PARSE_URL, TEST_PARSE_URL, TEST_CART_TOTAL])

    assert float(function @ own_test) > 0.3
    assert float(function @ own_test) > 3 * abs(float(function @ other_test))


def test_snake_case_and_camel_case_names_share_their_words() -> None:
    snake, camel, other = HashingCodeEmbedder(768).embed(["parse_url_host", "parseUrlHost", "render_invoice_pdf"])

    assert float(snake @ camel) > 0.5
    assert float(snake @ camel) > float(snake @ other) + 0.4


def test_tests_that_share_only_boilerplate_are_far_apart_and_a_shared_call_brings_them_close() -> None:
    boilerplate = "    self.assertEqual(result, expected)\n    assert value is not None\n"
    charge, charge_again, refund = HashingCodeEmbedder(768).embed(
        [
            f"def test_b(self):\n{boilerplate}    charge_card(order)",
            "def test_c(self):\n    charge_card(order)",
            f"def test_d(self):\n{boilerplate}    refund_order(order)",
        ]
    )

    assert float(charge @ charge_again) > 0.5  # the code under test decides
    assert float(charge @ refund) < 0.3  # identical boilerplate does not


def test_an_empty_text_is_a_zero_vector_that_matches_nothing() -> None:
    empty, code = HashingCodeEmbedder(384).embed(["", PARSE_URL])

    assert not empty.any()
    assert float(empty @ code) == 0.0


def test_embedding_is_deterministic_across_processes() -> None:
    # Python's own hash() is salted per process; vectors on disk must not depend on it.
    script = (
        "from aqe.index.embedders import HashingCodeEmbedder;"
        f"print(HashingCodeEmbedder(512).embed([{PARSE_URL!r}])[0].tobytes().hex())"
    )
    runs = {
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    here = HashingCodeEmbedder(512).embed([PARSE_URL])[0].tobytes().hex()

    assert runs == {here + "\n"}


def test_many_texts_are_embedded_in_chunks_with_the_same_result_as_one_by_one() -> None:
    embedder = HashingCodeEmbedder(384)
    texts = [f"def handler_{i}(request):\n    return respond(request, code={i})" for i in range(700)]

    together = embedder.embed(texts)
    alone = np.stack([embedder.embed([text])[0] for text in texts[::97]])

    assert together.shape == (700, 384)
    assert np.allclose(together[::97], alone, atol=1e-6)


def test_a_dimension_too_small_to_hash_into_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 8"):
        HashingCodeEmbedder(4)
