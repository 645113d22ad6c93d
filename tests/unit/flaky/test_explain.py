"""What the model's explanation looks like once it reaches the user."""

from __future__ import annotations

from aqe.flaky.explain import tidy_answer

LOOPING = "1. It is not a random test.\n" + "".join(f"# {n}. It is not a random test.\n" for n in range(2, 17)) + "#"


def test_a_model_that_repeats_one_line_says_it_once():
    assert tidy_answer(LOOPING) == "1. It is not a random test."


def test_different_lines_and_paragraphs_are_kept():
    answer = "It draws random values.\n\n- Seed the generator.\n- Or inject it.\n\n\n\nThat makes it deterministic.\n"
    assert tidy_answer(answer) == (
        "It draws random values.\n\n- Seed the generator.\n- Or inject it.\n\nThat makes it deterministic."
    )


def test_a_repeat_is_recognised_whatever_its_marker_number_or_case():
    assert (
        tidy_answer("Seed the RNG.\n# 2) seed the rng.\n// - Seed  the RNG.\nThen rerun.")
        == "Seed the RNG.\nThen rerun."
    )
