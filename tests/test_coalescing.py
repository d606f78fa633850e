"""memio.coalescing.Coalescer: calls made while a run is in progress share the next run, each
with its own outcome, in order (the embedder's, the write batches' and the vector comparisons')."""

import asyncio

import pytest

from memio.coalescing import Coalescer


class RecordingBatch:
    """Answers each request with its double (or a ValueError for negatives), recording batches."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.fail = fail

    async def __call__(self, requests: list[int]) -> list[int | Exception]:
        self.batches.append(list(requests))
        await asyncio.sleep(0.01)  # a write in progress, so other requests queue behind it
        if self.fail:
            raise RuntimeError("backend down")
        return [ValueError(str(r)) if r < 0 else 2 * r for r in requests]


async def test_concurrent_requests_share_batches_and_get_their_own_results():
    run = RecordingBatch()
    coalescer = Coalescer(run, max_batch=8)
    results = await asyncio.gather(*(coalescer(i) for i in range(20)))
    assert results == [2 * i for i in range(20)]
    assert [r for batch in run.batches for r in batch] == list(range(20))  # arrival order
    assert max(len(batch) for batch in run.batches) <= 8
    assert len(run.batches) < 20 and coalescer.runs == len(run.batches)


async def test_a_lone_request_is_a_batch_of_one():
    run = RecordingBatch()
    coalescer = Coalescer(run, max_batch=8)
    assert await coalescer(4) == 8
    assert await coalescer(5) == 10
    assert run.batches == [[4], [5]]


async def test_an_error_for_one_request_fails_only_that_request():
    coalescer = Coalescer(RecordingBatch(), max_batch=8)
    results = await asyncio.gather(*(coalescer(i) for i in (1, -2, 3)), return_exceptions=True)
    assert results[0] == 2 and results[2] == 6
    assert isinstance(results[1], ValueError)


async def test_a_failed_batch_fails_its_requests_and_the_next_request_runs_again():
    run = RecordingBatch(fail=True)
    coalescer = Coalescer(run, max_batch=8)
    results = await asyncio.gather(*(coalescer(i) for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    run.fail = False
    assert await coalescer(7) == 14


async def test_sizes_cap_a_run_and_a_larger_call_runs_alone():
    batches: list[list[str]] = []

    async def run(calls: list[str]) -> list[str]:
        batches.append(calls)
        await asyncio.sleep(0.01)
        return calls

    together = Coalescer(run, max_batch=4, size=len)
    await asyncio.gather(*(together(call) for call in ["x", "yy", "z", "wwwwww", "v", "u"]))
    assert batches == [["x", "yy", "z"], ["wwwwww"], ["v", "u"]]


async def test_a_run_answering_another_number_of_calls_fails_them():
    async def run(calls: list[int]) -> list[int]:
        return calls[:1]

    coalescer = Coalescer(run, max_batch=8)
    results = await asyncio.gather(*(coalescer(i) for i in (1, 2)), return_exceptions=True)
    assert [str(result) for result in results] == ["a run answered 1 of 2 calls"] * 2
    assert await coalescer(3) == 3


async def test_a_request_cancelled_before_its_batch_is_not_written():
    run = RecordingBatch()
    coalescer = Coalescer(run, max_batch=8)
    first = asyncio.create_task(coalescer(1))
    await asyncio.sleep(0)  # the first batch is running
    doomed = asyncio.create_task(coalescer(2))
    kept = asyncio.create_task(coalescer(3))
    await asyncio.sleep(0)
    doomed.cancel()
    assert await first == 2 and await kept == 6
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert run.batches == [[1], [3]]


def test_max_batch_must_be_positive():
    with pytest.raises(ValueError):
        Coalescer(RecordingBatch(), max_batch=0)
