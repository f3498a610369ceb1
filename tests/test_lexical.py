"""The lexical measures the drift rules compare texts with (wikicheck.lexical)."""

from __future__ import annotations

from wikicheck.lexical import new_sentences, sentences

OLD_CHECKS = "Check logs of the Prometheus Operator pod.\nCheck service account tokens."


def test_a_step_beside_a_sentence_with_the_same_subject_is_new():
    """The new list keeps both old checks and adds a third that shares half its words with the first:
    each old sentence is the counterpart of one new sentence only, the most alike."""
    new = ("- Check logs of the Prometheus Operator pod.\n\n- Check service account tokens.\n\n"
           "- Check the Prometheus Operator RBAC configuration.")
    assert new_sentences(OLD_CHECKS, new) == ["- Check the Prometheus Operator RBAC configuration."]


def test_reworded_and_rewrapped_sentences_are_not_new():
    new = "Look at the logs of the\nPrometheus Operator pod. Check the service account tokens."
    assert new_sentences(OLD_CHECKS, new.replace("\n", " ")) == []
    assert new_sentences(OLD_CHECKS, "Check logs of the Prometheus Operator pod.") == []


def test_a_sentence_repeated_word_for_word_counts_once():
    step = "Cordon and drain the node before you replace the disk."
    assert new_sentences(step, f"{step}\n\n{step}") == []  # the old text says it already
    assert new_sentences("Replace the disk.", f"{step}\n\n{step}") == [step]


def test_sentences_split_as_new_sentences_does():
    assert sentences("One step. Two steps!\n\nThree?\n") == ["One step.", "Two steps!", "Three?"]
