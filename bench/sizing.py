"""The sizing model of ``bench/capacity.py``: measured costs per call -> cores, shards, GPUs.

Pure arithmetic on the figures a run measured, so a table can be printed again
from a saved run (``python -m bench.capacity --from-json FILE``) with other
budgets. Every budget is a keyword with its reason in :data:`BUDGETS_WHY`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Qwen3-ASR-0.6B's published throughput: "it reaches 2000 times throughput at a concurrency
# of 128" (QwenLM/Qwen3-ASR README, https://github.com/QwenLM/Qwen3-ASR, commit 47f77bc;
# Qwen3-ASR Technical Report, arXiv 2601.21337). Seconds of audio per second, one GPU, offline
# vLLM serving; the README names neither the GPU nor the audio. NOT measured here.
QWEN3_06B_AUDIO_SECONDS_PER_GPU_SECOND = 2000.0
QWEN3_SOURCE = ("QwenLM/Qwen3-ASR README (github.com/QwenLM/Qwen3-ASR, 47f77bc): Qwen3-ASR-0.6B "
                "'reaches 2000 times throughput at a concurrency of 128'")


@dataclass(frozen=True, slots=True, kw_only=True)
class Budgets:
    """How much of a core, a Redis shard and a GPU a deployment plans to use."""

    cpu_utilisation: float = 0.6
    redis_cpu_per_shard: float = 0.5
    redis_memory_per_shard: float = 4 * 2**30
    redis_bytes_per_shard: float = 2.5e9 / 8
    gpu_share_of_published: float = 0.5


BUDGETS_WHY = {
    "cpu_utilisation": "cores are planned at 60 % busy: a worker's queue lag grows fast past ~70 % "
                       "(bench/vad_load.py fell behind when starved), and a zone lost must fit in the rest",
    "redis_cpu_per_shard": "Redis runs commands on one thread, so a shard never uses more than one core; "
                           "half of it is the budget, for a replica's full resync, a failover's replays "
                           "and calls that start together",
    "redis_memory_per_shard": "4 GiB of data per shard: an 8 GiB node keeps the rest for the fork of a "
                              "snapshot or full sync (copy-on-write) and the replication and client buffers",
    "redis_bytes_per_shard": "2.5 Gbit/s in + out per shard: a quarter of a 10 GbE NIC, which also carries "
                             "the replication stream to each replica",
    "gpu_share_of_published": "half the published throughput: it is an offline figure at concurrency 128, "
                              "streaming partials want short queues; an estimate until measured on a GPU",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Costs:
    """What one concurrent call costs, as measured (cores = CPU seconds per call-second)."""

    gateway_cores: float
    vad_cores: float
    asr_stage_cores: float  # the ASR worker without its model (the stand-in's worker)
    whisper_cores: float  # the ASR worker with whisper tiny.en on the CPU
    denoise_cores: float
    redis_cores: float
    redis_ops: float  # commands per call-second
    redis_bytes: float  # network bytes in + out per call-second
    redis_memory: float  # bytes of used_memory per call
    decoded_audio: float  # audio seconds the engine decodes per call-second (partials re-decode)


def sizing(costs: Costs, calls: int, budgets: Budgets = Budgets()) -> dict[str, Any]:
    """Cores per stage, Redis shards (and which limit binds) and qwen3-vllm GPUs for ``calls``."""
    def cores(per_call: float) -> int:
        return math.ceil(calls * per_call / budgets.cpu_utilisation)

    shards = {
        "cpu": calls * costs.redis_cores / budgets.redis_cpu_per_shard,
        "memory": calls * costs.redis_memory / budgets.redis_memory_per_shard,
        "network": calls * costs.redis_bytes / budgets.redis_bytes_per_shard,
    }
    binding = max(shards, key=lambda name: shards[name])
    gpu_rate = QWEN3_06B_AUDIO_SECONDS_PER_GPU_SECOND * budgets.gpu_share_of_published
    return {
        "calls": calls,
        "gateway_cores": cores(costs.gateway_cores),
        "vad_cores": cores(costs.vad_cores),
        "whisper_cores": cores(costs.whisper_cores),
        "asr_stage_cores": cores(costs.asr_stage_cores),
        "denoise_cores": cores(costs.denoise_cores),
        "redis_shards": max(1, math.ceil(shards[binding])),
        "redis_binding": binding,
        "redis_ops_per_s": calls * costs.redis_ops,
        "redis_memory_bytes": calls * costs.redis_memory,
        "redis_bytes_per_s": calls * costs.redis_bytes,
        "qwen3_gpus": max(1, math.ceil(calls * costs.decoded_audio / gpu_rate)),
    }


def table(costs: Costs, levels: tuple[int, ...] = (100, 1_000, 10_000), budgets: Budgets = Budgets()) -> str:
    """The sizing table in Markdown, with the budgets it assumes and why."""
    rows = [sizing(costs, n, budgets) for n in levels]
    ops_per_shard = budgets.redis_cpu_per_shard * costs.redis_ops / costs.redis_cores if costs.redis_cores else 0
    lines = [
        "| concurrent calls | gateway cores | VAD cores | ASR cores, whisper tiny.en CPU | ASR worker cores "
        "beside a GPU (stage only) | denoise cores (if on) | Redis shards (binding) | Redis ops/s | "
        "Redis memory | Redis network | qwen3-vllm GPUs (0.6B, ESTIMATE, not measured on a GPU) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['calls']:,} | {row['gateway_cores']} | {row['vad_cores']} | {row['whisper_cores']} "
            f"| {row['asr_stage_cores']} | {row['denoise_cores']} | {row['redis_shards']} ({row['redis_binding']}) "
            f"| {row['redis_ops_per_s']:,.0f} | {row['redis_memory_bytes'] / 2**20:,.0f} MiB "
            f"| {row['redis_bytes_per_s'] * 8 / 1e9:,.2f} Gbit/s | {row['qwen3_gpus']} |")
    lines += [
        "",
        f"Per call (measured): gateway {costs.gateway_cores * 1000:.2f}, VAD {costs.vad_cores * 1000:.2f}, "
        f"ASR stage {costs.asr_stage_cores * 1000:.2f}, whisper {costs.whisper_cores * 1000:.1f}, "
        f"denoise {costs.denoise_cores * 1000:.1f}, Redis {costs.redis_cores * 1000:.2f} millicores; "
        f"Redis {costs.redis_ops:.1f} commands/s, {costs.redis_bytes / 1000:.1f} kB/s in + out, "
        f"{costs.redis_memory / 1000:.1f} kB of memory; the engine decodes {costs.decoded_audio:.2f} s of "
        "audio per call-second (partials decode the utterance so far again).",
        f"Budgets: cores {budgets.cpu_utilisation:.0%} busy; a Redis shard {budgets.redis_cpu_per_shard} core "
        f"(= {ops_per_shard:,.0f} of these commands/s at the measured cost per command), "
        f"{budgets.redis_memory_per_shard / 2**30:.0f} GiB, {budgets.redis_bytes_per_shard * 8 / 1e9:.1f} Gbit/s; "
        f"a GPU {budgets.gpu_share_of_published:.0%} of {QWEN3_06B_AUDIO_SECONDS_PER_GPU_SECOND:.0f} audio "
        "seconds per second.",
    ]
    lines += [f"- {name}: {why}" for name, why in BUDGETS_WHY.items()]
    lines.append(f"- qwen3-vllm GPUs: ESTIMATE from published throughput, not measured on a GPU: {QWEN3_SOURCE}.")
    return "\n".join(lines)
