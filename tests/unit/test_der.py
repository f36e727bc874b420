"""tests/kit/der.py: the diarization error rate on hand-made references."""

import numpy as np
import pytest

from tests.kit.extras import require

require("diarize")  # tests.kit.der matches speakers with scipy
from tests.kit.der import der, reference_frames  # noqa: E402


def test_perfect_hypothesis_under_any_names_scores_zero():
    reference = reference_frames([(0, 0.0, 1.0), (1, 1.5, 2.0)], 200)
    hypothesis = -np.ones(200, int)
    hypothesis[0:100], hypothesis[150:200] = 7, 3  # other numbers, same partition
    assert der(reference, hypothesis).total == 0


def test_one_speaker_for_everything_confuses_the_second():
    reference = reference_frames([(0, 0.0, 1.0), (1, 1.0, 1.5)], 150)
    result = der(reference, np.zeros(150, int))
    assert result.confusion == pytest.approx(50 / 150)
    assert result.missed == 0 and result.false_alarm == 0


def test_missed_false_alarm_and_overlap():
    reference = reference_frames([(0, 0.0, 1.0), (1, 0.5, 1.0)], 200)  # 150 speaker-frames, 50 overlapped
    hypothesis = -np.ones(200, int)
    hypothesis[10:100] = 0  # first 10 frames missed; the overlap's second speaker missed (50)
    hypothesis[150:170] = 0  # 20 frames of false alarm
    result = der(reference, hypothesis)
    assert result.missed == pytest.approx(60 / 150)
    assert result.false_alarm == pytest.approx(20 / 150)
    assert result.confusion == 0


def test_no_reference_speech_is_an_error():
    with pytest.raises(ValueError, match="no speech"):
        der(np.zeros((10, 1), bool), np.zeros(10, int))


def test_a_collar_forgives_errors_near_turn_boundaries_only():
    reference = reference_frames([(0, 0.5, 1.5), (1, 2.0, 3.0)], 400)
    hypothesis = -np.ones(400, int)
    hypothesis[40:160], hypothesis[200:300] = 0, 1  # speaker 0 begins 0.1 s early and ends 0.1 s late
    assert der(reference, hypothesis).false_alarm == pytest.approx(20 / 200)
    assert der(reference, hypothesis, collar=0.25).total == 0
    hypothesis[100] = 1  # mid-turn: the collar does not forgive it
    assert der(reference, hypothesis, collar=0.25).confusion > 0
