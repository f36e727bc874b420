"""The abuse review's cases (tests/kit/abuse_review.py) as security regression tests, one test a case.

Every case of the reviews' findings runs against one review stack (a gateway with an
API keys file and short timers, a VAD and an ASR worker, two signing gateways, on the
module's redis-server), in the review's order: the killed client's case last, since
the session it leaves behind would refuse the cases after it. A case fails when its
observation is not what it expects, or when a process of the stack logs a traceback
while it runs (:func:`tests.kit.abuse_review.run_case`). The cases are the review's own
code, not a copy: a case added there is a test here.

Smaller than the bench's defaults, so that the module takes about two minutes: fewer
parked calls, guessed ids and 1,000,000-byte chunks (each still past its limit).
"""

from __future__ import annotations

import pytest
import pytest_asyncio

from tests.kit.abuse_review import CASES, Case, Review, arguments, run_case

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

# Each still past its limit: parks > PARKED_PER_KEY, guesses > FAILED_FOLLOWS.
ARGS = arguments("--parks", "5", "--guesses", "14", "--big-chunks", "1")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def review(redis_server, tmp_path_factory):
    stack = Review(ARGS, redis_server, tmp_path_factory.mktemp("abuse-review"))
    yield stack
    await stack.close()


def case_id(case: Case) -> str:
    return f"{case.finding}-{case.name}"


@pytest.mark.parametrize("case", sorted(CASES, key=lambda case: case.last), ids=case_id)
async def test_the_review_case(review, case):
    observed = await run_case(review, case)
    assert observed.ok, f"finding {case.finding}, {case.name}: expected {case.expected}; observed {observed.text}"
